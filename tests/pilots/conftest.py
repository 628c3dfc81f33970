from tests.jit.conftest import smtp  # noqa: F401  (fixtures for pilot tests)
from tests.zk.conftest import zk_pair  # noqa: F401
