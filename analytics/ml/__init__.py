"""The prediction models as pure functions: DataFrames in, results out, no ORM inside, so the
same code is trained and applied by the platform and evaluated offline on public benchmarks."""
