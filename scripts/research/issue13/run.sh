#!/bin/bash
# usage: run.sh TAG [args...]  -> runs/TAG.json, logs/TAG.log (background-friendly)
export MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=4000000000 MALLOC_TOP_PAD_=100000000
tag=$1; shift
cd /work/proto && python -W ignore metatl.py --tag "$tag" --out runs/$tag.json "$@" > logs/$tag.log 2>&1
