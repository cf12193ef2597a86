#!/usr/bin/env python3
"""The N2D paper's Table III on this machine: minutes per stage, the paper's figures, speed-up, ACC/NMI.

The same library function as ``gpun2d bench`` (gpun2d.benchmarking.run_table3), as a plain script:

  python benchmarks/table3.py                                   # six datasets, 1000 epochs
  python benchmarks/table3.py --datasets mnist-test,usps --repeats 3 --out results/table3
  python benchmarks/table3.py --datasets digits --epochs 2 --device cpu --max-samples 300
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from gpun2d.benchmarking import PAPER_DATASETS, BenchSettings, render_markdown, run_table3, write_report
from gpun2d.report import check_out_dir


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(PAPER_DATASETS), help="comma-separated dataset names")
    parser.add_argument("--epochs", type=int, default=1000, help="autoencoder epochs (paper: 1000)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per dataset; median and range reported")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--data-dir", type=Path, help="folder holding the datasets' files")
    parser.add_argument("--no-download", action="store_true", help="never download missing files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cluster-n-init", type=int, default=10, help="clustering restarts (paper: 1)")
    parser.add_argument("--max-samples", type=int, help="seeded random subset per dataset (quick checks)")
    parser.add_argument("--no-warmup", action="store_true", help="time the very first fit too")
    parser.add_argument("--out", type=Path, help="folder for bench.json and bench.md (default: table3-TIMESTAMP)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out or Path(f"table3-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    settings = BenchSettings(
        datasets=tuple(name.strip() for name in args.datasets.split(",") if name.strip()),
        epochs=args.epochs, repeats=args.repeats, device=args.device, data_dir=args.data_dir,
        download=not args.no_download, seed=args.seed, cluster_n_init=args.cluster_n_init,
        max_samples=args.max_samples, warmup=not args.no_warmup,
    )
    check_out_dir(out)
    result = run_table3(settings, on_run=lambda name, i, run: print(
        f"{name} run {i + 1}: " + ", ".join(f"{k} {v:.1f} s" for k, v in run["seconds"].items()), flush=True))
    write_report(result, out)
    print(render_markdown(result))
    print(f"wrote {out}/bench.json and {out}/bench.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
