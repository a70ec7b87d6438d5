import re

from utils import bench


def test_bench_alternates_both_paths_and_ends_with_the_ratio(mnist_dir, capsys):
    bench.main(["--steps", "3", "--repeats", "1", "--workers", "0", "--data-dir", str(mnist_dir)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("(a) DataLoader, 0 workers") for line in lines)
    assert any(line.startswith("(b) device-resident") for line in lines)
    assert re.fullmatch(r"ratio \d+\.\d{3}", lines[-1])
