"""Gunicorn's size and socket, as the process table and file system show."""


def test_worker_count_is_twice_the_cpus_plus_one(host, facts, gunicorn_master):
    workers = host.check_output(f"ps --no-headers -o pid --ppid {gunicorn_master}").split()
    assert len(workers) == 2 * facts["ansible_processor_nproc"] + 1


def test_workers_run_as_the_app_user(host, gunicorn_master):
    users = set(host.check_output(f"ps --no-headers -o user:32 --ppid {gunicorn_master}").split())
    assert users == {"sample_app"}


def test_socket_belongs_to_nginx_group_only(host):
    sock = host.file("/run/gunicorn.sock")
    assert sock.is_socket
    assert (sock.user, sock.group, sock.mode) == ("root", "www-data", 0o660)


def test_other_users_cannot_connect_to_the_socket(host):
    connect = "import socket; socket.socket(socket.AF_UNIX).connect('/run/gunicorn.sock')"
    assert host.run(f'runuser -u www-data -- python3 -c "{connect}"').rc == 0
    refused = host.run(f'runuser -u nobody -- python3 -c "{connect}"')
    assert refused.rc != 0
    assert "PermissionError" in refused.stderr
