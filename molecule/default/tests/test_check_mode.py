"""`site.yml --check --diff` predicts no change on a converged host.

(Molecule's `check` step runs it on the blank host before converge.)
"""

from conftest import recap_changed, run_playbook


def test_check_mode_reports_no_change_on_a_converged_host():
    run = run_playbook("--check", "--diff", book="site.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "PLAY RECAP" in run.stdout
    assert recap_changed(run.stdout) == 0, run.stdout[-3000:]
