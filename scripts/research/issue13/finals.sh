#!/bin/bash
cd /work/proto; . ./recipe.sh
./run.sh s_R_s2 --data synthetic --seed 2 --threads 1 --max_minutes 5 --patience 6 $RECIPE &
./run.sh s_R_s3 --data synthetic --seed 3 --threads 1 --max_minutes 5 --patience 6 $RECIPE &
wait
./run.sh b_R_s3 --data beauty --seed 3 --threads 1 --max_minutes 6 --patience 6 --prior_ws 0,1,2,4,8,16,32 $RECIPE &
./run.sh b_ref_s2 --data beauty --seed 2 --threads 1 --max_minutes 7 --patience 8 &
wait
./run.sh b_ref_s3 --data beauty --seed 3 --threads 1 --max_minutes 7 --patience 8 &
./run.sh s_ref_s2 --data synthetic --seed 2 --threads 1 --max_minutes 5 --patience 6 &
wait
