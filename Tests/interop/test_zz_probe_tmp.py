import pytest, schemathesis
from conftest import Meridian, MeridianFactory
from test_contract_fuzz import fuzz_config, authenticate_as_admin

@pytest.fixture(scope="module")
def target(interop_root):
    f = MeridianFactory(interop_root)
    try:
        yield f.launch("sqlite")
    finally:
        f.close()

@pytest.fixture(scope="module")
def api_schema(target):
    s = schemathesis.openapi.from_url(f"{target.url}/api/openapi.yaml", config=fuzz_config(target.url))
    authenticate_as_admin(s, target)
    return s

fuzzed = schemathesis.pytest.from_fixture("api_schema").include(path_regex="^/(oauth|\\.well-known|api/roles|api/clients|api/users/\\{id\\}/roles)")

@fuzzed.parametrize()
def test_probe(case):
    case.call_and_validate()
