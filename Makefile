# `make check` is the quality bar: the same steps as CI.
.PHONY: check test fmt bench
check test:
	./scripts/test
fmt:
	cargo fmt --all
bench:
	cargo bench
