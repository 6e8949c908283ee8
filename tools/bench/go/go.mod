module gmp/tools/bench/go

go 1.19
