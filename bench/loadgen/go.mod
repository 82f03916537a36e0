module paygate/bench/loadgen

go 1.22
