"""The parent's sum of its workers' metrics files, whatever moment a scrape lands on."""

from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict, mmap_key

from service.workers.metrics import WorkersCollector


def test_a_file_a_starting_worker_has_not_sized_yet_is_left_out(tmp_path: Path) -> None:
    (tmp_path / "counter_4242.db").touch()  # created, not yet sized: nothing to read
    assert list(WorkersCollector(tmp_path).collect()) == []


def test_the_workers_counters_are_summed_beside_a_file_not_yet_sized(tmp_path: Path) -> None:
    for pid, count in ((1, 3.0), (2, 4.0)):
        counters = MmapedDict(str(tmp_path / f"counter_{pid}.db"))
        counters.write_value(mmap_key("jobs", "jobs_total", [], [], "Jobs."), count, 0.0)
        counters.close()
    (tmp_path / "counter_3.db").touch()
    families = list(WorkersCollector(tmp_path).collect())
    assert [(s.name, s.value) for f in families for s in f.samples] == [("jobs_total", 7.0)]
