"""A run records where it stands in its run folder (counts only), for the console's run page."""

from __future__ import annotations

from pathlib import Path

from support.project import Project, profile

from dotsync.live import LIVE_FILE, LiveProgress, LiveRecorder, read_live


def test_a_run_records_each_stage_while_it_runs(project: Project) -> None:
    project.write_profiles(profile(i) for i in range(40))
    config = project.write_config()
    seen: list[LiveProgress] = []

    def watch(stage: str, done: int, total: int) -> None:
        [run_dir] = (config.state.work_dir / "runs").glob("news-*")
        live = read_live(run_dir / LIVE_FILE)
        assert live is not None
        seen.append(live)

    result = project.run(progress=watch)

    assert result.counts.sent == 40
    last_send = [s for s in seen if s.stage == "send"][-1]
    assert (last_send.done, last_send.total) == (40, 40)
    assert last_send.stages == ["connect", "read", "validate", "read book", "send"]
    assert not (config.state.work_dir / "runs" / f"news-{result.run_id}").exists()


def test_writes_are_spaced_within_a_stage_but_not_across_stages(tmp_path: Path) -> None:
    now = [0.0]
    recorder = LiveRecorder(tmp_path / "run" / LIVE_FILE, every=1.0, clock=lambda: now[0])
    recorder.progress("send", 0, 10)
    recorder.progress("send", 3, 10)  # within a second: not written
    live = read_live(recorder.path)
    assert live is not None
    assert (live.stage, live.done, live.total, live.stages) == ("send", 0, 10, ["send"])
    now[0] = 1.5
    recorder.progress("send", 5, 10)
    recorder.in_flight(2)  # a change of imports in flight is written at once
    live = read_live(recorder.path)
    assert live is not None
    assert (live.stage, live.done, live.total, live.imports_in_flight) == ("send", 5, 10, 2)
    recorder.progress("remove", 0, 4)  # a new stage is written at once
    live = read_live(recorder.path)
    assert live is not None
    assert (live.stage, live.stages) == ("remove", ["send", "remove"])


def test_no_file_reads_as_no_progress(tmp_path: Path) -> None:
    assert read_live(tmp_path / "missing" / LIVE_FILE) is None
