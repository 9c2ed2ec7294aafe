"""The Python package against the churnguard command line on the same work (`make bench`,
section `python`). Run with the interpreter of an environment holding the wheel.

Usage:
  python_api.py import RUNS
      prints the median seconds of `import churnguard` in a fresh interpreter
  python_api.py train PIPELINE MODELS
      trains through the package (whole process: import, load, train); prints "seconds"
  python_api.py score PACKAGE PIPELINE AS_OF THREADS
      opens the package and scores the list into memory; prints "seconds rows"
  python_api.py frame PACKAGE PIPELINE DIR AS_OF THREADS
      reads the synthetic tables of DIR (events, customers, interactions) as polars frames, then
      scores with them in place of the files; prints "frame_bytes model_bytes rows" (peak memory
      is the caller's, from /usr/bin/time)
"""

import pathlib
import subprocess
import sys
import time


def main(argv):
    what = argv[1]
    if what == "import":
        code = "import time; t = time.perf_counter(); import churnguard; print(time.perf_counter() - t)"
        runs = sorted(
            float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(int(argv[2]))
        )
        print(runs[len(runs) // 2])
        return
    started = time.perf_counter()
    import churnguard

    if what == "train":
        churnguard.train(churnguard.Pipeline.load(argv[2]), models=argv[3])
        print(time.perf_counter() - started)
    elif what == "score":
        package = churnguard.Package.open(argv[2], threads=int(argv[5]))
        risk = package.score(churnguard.Pipeline.load(argv[3]), as_of=argv[4])
        print(time.perf_counter() - started, len(risk))
    elif what == "frame":
        import polars as pl

        tables = {role: pl.read_parquet(pathlib.Path(argv[4]) / f"{role}.parquet") for role in ("events", "customers", "interactions")}
        package = churnguard.Package.open(argv[2], threads=int(argv[6]))
        risk = package.score(churnguard.Pipeline.load(argv[3], **tables), as_of=argv[5])
        model = sum(f.stat().st_size for f in pathlib.Path(package.path).iterdir() if f.is_file())
        print(sum(t.estimated_size() for t in tables.values()), model, len(risk))
    else:
        sys.exit(f"unknown measure {what!r}")


if __name__ == "__main__":
    main(sys.argv)
