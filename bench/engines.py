"""churnguard's list scored on Spark (local mode) and Dask (a LocalCluster) against the command
line on the same tables and cores (`make bench`, section `engines`). Run with the interpreter of
an environment holding the wheel and the engines.

Usage:
  engines.py spark|dask PACKAGE PIPELINE DIR AS_OF SHARES CORES
      reads DIR's events, customers and interactions Parquet files with the engine, scores them
      in SHARES shares on CORES task slots (Spark) or worker processes (Dask), and merges the
      list on the driver; prints "seconds rows" (whole job: the engine's start included)
"""

import os
import pathlib
import sys
import time

ROLES = ("events", "customers", "interactions")


def main(argv):
    engine, package_path, pipeline_path, folder, as_of = argv[1:6]
    shares, cores = int(argv[6]), int(argv[7])
    started = time.perf_counter()
    import churnguard

    package = churnguard.Package.open(package_path, threads=1)
    pipeline = churnguard.Pipeline.load(pipeline_path)
    paths = {role: str(pathlib.Path(folder) / f"{role}.parquet") for role in ROLES}
    if engine == "spark":
        import churnguard.spark
        from pyspark.sql import SparkSession

        os.environ["PYSPARK_PYTHON"] = sys.executable
        spark = (
            SparkSession.builder.master(f"local[{cores}]")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.memory", "8g")
            .config("spark.sql.shuffle.partitions", str(shares))
            .getOrCreate()
        )
        tables = {role: spark.read.parquet(path) for role, path in paths.items()}
        risk = churnguard.spark.score(package, pipeline, as_of=as_of, shares=shares, **tables)
        spark.stop()
    elif engine == "dask":
        import churnguard.dask
        import dask.dataframe as dd
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=cores, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster):
            tables = {role: dd.read_parquet(path) for role, path in paths.items()}
            risk = churnguard.dask.score(package, pipeline, as_of=as_of, shares=shares, **tables)
    else:
        sys.exit(f"unknown engine {engine!r}")
    print(time.perf_counter() - started, len(risk))


if __name__ == "__main__":
    main(sys.argv)
