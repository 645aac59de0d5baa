"""The control-plane suites on a 3-master Redis Cluster: route create/flip/promote/rollback/pin
through the admin API (one Lua script per change, one slot per route), gateways following each
change, the registry, stored data, bad input writing nothing, the CLI, stats."""

from tests.control.test_bad_input import *  # noqa: F403
from tests.control.test_cli import *  # noqa: F403
from tests.control.test_gateway_follows import *  # noqa: F403
from tests.control.test_lua_contract import *  # noqa: F403
from tests.control.test_registry import *  # noqa: F403
from tests.control.test_route_changes import *  # noqa: F403
from tests.control.test_stats_api import *  # noqa: F403
from tests.control.test_stored_data import *  # noqa: F403
