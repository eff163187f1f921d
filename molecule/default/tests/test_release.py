"""The app runs from a root-owned release its own user cannot change."""

import pytest


def test_release_is_root_owned(host):
    code = host.file("/opt/sample_app/current/")
    assert code.is_directory
    assert code.user == "root"


@pytest.mark.parametrize(
    "path",
    ["/opt/sample_app/current", "/opt/sample_app/current/venv/lib", "/opt/sample_app/current/venv/bin"],
)
def test_app_user_cannot_write_its_code(host, path):
    assert host.file(path).is_directory
    attempt = host.run(f"runuser -u sample_app -- touch {path}/intruder")
    assert attempt.rc != 0
    assert "Permission denied" in attempt.stderr


def test_app_user_has_no_login_shell(host):
    assert host.user("sample_app").shell == "/usr/sbin/nologin"


def test_environment_file_is_hidden_from_other_users(host):
    env = host.file("/etc/sample_app/app.env")
    assert (env.user, env.group, env.mode) == ("root", "sample_app", 0o640)
    assert host.run("runuser -u nobody -- cat /etc/sample_app/app.env").rc != 0


def test_environment_values_reach_the_workers_unchanged(host, gunicorn_master):
    worker = host.check_output(f"ps --no-headers -o pid --ppid {gunicorn_master}").split()[0]
    environ = host.check_output(f"tr '\\0' '\\n' < /proc/{worker}/environ")
    assert 'FLASK_KIT_ODD_VALUE=p#w"d \\ with spaces' in environ.splitlines()
