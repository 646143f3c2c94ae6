"""The `[prefect_api]`, `[[forward]]` and `[[subscribe]]` tables: what a config may say, and a
daemon that refuses (exit 78, naming the problem) what it cannot run with."""

from __future__ import annotations

import pytest
from tocsin.config import load_config
from tocsin.errors import ConfigError


def config(tmp_path, text: str):
    path = tmp_path / "tocsin.toml"
    path.write_text(text)
    return path


def test_links_and_listener_read_with_their_defaults(tmp_path):
    cfg = load_config(config(tmp_path, '[prefect_api]\nenabled = true\n'
                             '[[forward]]\nurl = "http://p:4200/api"\nnames = ["a.*"]\n'
                             '[[subscribe]]\nurl = "http://p:4200/api"\n'
                             'resource = { "prefect.resource.id" = "x.*" }\n'))
    assert (cfg.prefect_api.host, cfg.prefect_api.port) == ("127.0.0.1", 4200)
    assert cfg.forward[0].names == ["a.*"] and cfg.forward[0].key == "http://p:4200/api"
    assert cfg.subscribe[0].resource == {"prefect.resource.id": "x.*"}


@pytest.mark.parametrize("text, says", [
    ('[[forward]]\nurl = "prefect:4200"\n', "forward[0].url"),
    ('[[subscribe]]\nurl = "http://p/api"\n[[subscribe]]\nurl = "http://p/api"\n',
     "distinct `name`"),
    ('[[forward]]\nurl = "http://p/api"\nnmes = ["x"]\n', "nmes"),
    ('[prefect_api]\nport = 70000\n', "port"),
    ('[[subscribe]]\nurl = "http://p/api"\napi_key_env = "K"\nauth_string_env = "A"\n',
     "not both"),
])
def test_a_wrong_table_is_a_config_error_naming_it(tmp_path, text, says):
    with pytest.raises(ConfigError, match=says.replace("[", r"\[").replace("]", r"\]")):
        load_config(config(tmp_path, text))


def test_a_link_whose_key_variable_is_unset_stops_the_daemon_with_78(make_daemon, tmp_path):
    d = make_daemon(config=config(tmp_path, '[[forward]]\nurl = "http://127.0.0.1:9/api"\n'
                                  'api_key_env = "TOCSIN_TEST_NO_SUCH_KEY"\n'))
    with pytest.raises(RuntimeError, match="TOCSIN_TEST_NO_SUCH_KEY"):
        d.start()
    assert d.proc.returncode == 78
