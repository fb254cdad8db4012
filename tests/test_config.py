import pytest

from yellowbox_realtime.config import Config
from yellowbox_realtime.errors import ConfigError


def test_defaults_are_safe_for_a_first_run() -> None:
    config = Config()
    assert config.server.host == "127.0.0.1"
    assert config.auth.provider == "dev"
    assert config.engineio.ping_interval_ms == 25_000


def test_later_sources_win() -> None:
    config = Config.from_sources(
        file_data={"server": {"port": 4000, "host": "0.0.0.0"}},
        env={"YBRT_SERVER_PORT": "5000", "YBRT_ENGINEIO_PING_INTERVAL_MS": "150"},
        overrides={"server": {"port": 6000}},
    )
    assert config.server.port == 6000
    assert config.server.host == "0.0.0.0"
    assert config.engineio.ping_interval_ms == 150


def test_lists_come_from_toml_arrays_or_comma_separated_env() -> None:
    from_file = Config.from_sources({"server": {"allowed_origins": ["https://a", "https://b"]}})
    from_env = Config.from_sources(env={"YBRT_SERVER_ALLOWED_ORIGINS": "https://a, https://b"})
    assert from_file.server.allowed_origins == from_env.server.allowed_origins == (
        "https://a", "https://b")


@pytest.mark.parametrize(
    ("data", "env", "needle"),
    [
        ({"server": {"port": "many"}}, {}, "server.port"),
        ({"server": {"port": -1}}, {}, "server.port"),
        ({"server": {"port": 70000}}, {}, "server.port"),
        ({"server": {"max_body_bytes": 0}}, {}, "server.max_body_bytes"),
        ({"server": {"prot": 1}}, {}, "server.prot: unknown setting"),
        ({"sever": {"port": 1}}, {}, "sever: unknown section"),
        ({"auth": {"provider": "magic"}}, {}, "auth.provider"),
        ({"auth": {"provider": "firebase"}}, {}, "auth.firebase_project_id"),
        ({"auth": {"provider": "jwt"}}, {}, "auth.jwt_secret"),
        ({"engineio": {"transports": ["carrier-pigeon"]}}, {}, "engineio.transports"),
        ({"engineio": {"ping_interval_ms": 1.5}}, {}, "engineio.ping_interval_ms"),
        ({}, {"YBRT_SERVER": "x"}, "YBRT_SERVER"),
        ({}, {"YBRT_SERVER_PORT": "true"}, "server.port"),
        ({"broker": {"kind": "kafka"}}, {}, "broker.kind"),
        ({"broker": {"url": "redis+sentinel://h/mymaster"}}, {}, "broker.url"),
        ({"broker": {"url": "http://127.0.0.1:6379"}}, {}, "broker.url"),
        ({"broker": {"prefix": ""}}, {}, "broker.prefix"),
        ({"broker": {"timeout_s": 0}}, {}, "broker.timeout_s"),
        ({"riders": {"extra_fields": {"battery": "float"}}}, {}, "riders.extra_fields.battery"),
        ({"riders": {"extra_fields": {"latitude": "number"}}}, {}, "riders.extra_fields"),
        ({"riders": {"extra_fields": {f"f{i}": "boolean" for i in range(17)}}}, {},
         "riders.extra_fields: at most 16"),
        ({"riders": {"extra_fields": {"x" * 33: "string"}}}, {}, "riders.extra_fields"),
        ({}, {"YBRT_RIDERS_EXTRA_FIELDS": "battery=number"}, "riders.extra_fields"),
        ({"riders": {"max_extra_string_chars": 0}}, {}, "riders.max_extra_string_chars"),
        ({"riders": {"max_extra_string_chars": 1025}}, {}, "riders.max_extra_string_chars"),
    ],
)
def test_invalid_values_name_the_key(data: dict[str, dict[str, object]], env: dict[str, str],
                                     needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_sources(data, env)
    assert needle in str(info.value)


def test_unrelated_environment_is_ignored() -> None:
    assert Config.from_sources(env={"HOME": "/root", "PATH": "/bin"}) == Config()


def test_policy_entries_come_from_toml_tables() -> None:
    config = Config.from_sources({"policy": {"subscribe": {"rider_locations": ["finance"]},
                                             "publish": {"rider_sos": ["rider"]}}})
    assert config.policy.subscribe == {"rider_locations": ("finance",)}
    assert config.policy.publish == {"rider_sos": ("rider",)}
    with pytest.raises(ConfigError, match=r"policy\.subscribe: expected a table"):
        Config.from_sources(env={"YBRT_POLICY_SUBSCRIBE": "rider_locations=finance"})


def test_extra_rider_fields_come_from_a_toml_table() -> None:
    config = Config.from_sources({"riders": {"extra_fields": {"battery": "integer",
                                                              "appVersion": "string"},
                                             "max_extra_string_chars": 32}},
                                 env={"YBRT_RIDERS_MAX_EXTRA_STRING_CHARS": "16"})
    assert config.riders.extra_fields == {"battery": "integer", "appVersion": "string"}
    assert config.riders.max_extra_string_chars == 16
    assert Config().riders.extra_fields == {}


def test_the_broker_comes_from_the_environment_too() -> None:
    config = Config.from_sources({}, {"YBRT_BROKER_KIND": "redis",
                                      "YBRT_BROKER_URL": "rediss://user:pw@10.0.0.5:6380/2"})
    assert (config.broker.kind, config.broker.url) == ("redis", "rediss://user:pw@10.0.0.5:6380/2")
