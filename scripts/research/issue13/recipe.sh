# the candidate recipe (flags on top of the reference MetaTL defaults)
RECIPE="--loss softmax --negs 1024 --scale 1 --learn_scale --score sqdist --sep_tail --bias zero --bn3_init 0 --sampler contiguous --p_sub 0"
