"""The License/Authority Compiler: the policy language, its compiler, graph constraints and
minimization transforms. Pure Python (no Django), so it can be tested and benchmarked alone."""
