"""Scale data for the benchmarks: CDNOW master replicated with fresh customer ids.

Each copy shifts customer ids by the number of CDNOW customers, so the result has
copies x 23,570 customers with CDNOW's own purchase patterns. Deterministic.
"""
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def main(src: str, out: str, customers: int) -> None:
    base = pq.read_table(src)
    per_copy = pc.max(base["customer_id"]).as_py()
    copies = -(-customers // per_copy)
    parts = []
    for k in range(copies):
        ids = pc.add(base["customer_id"].cast(pa.int64()), k * per_copy)
        parts.append(base.set_column(0, "customer_id", ids))
    table = pa.concat_tables(parts)
    table = table.filter(pc.less_equal(table["customer_id"], customers))
    pq.write_table(table, out, row_group_size=1 << 20, compression="zstd")
    print(f"{out}: {table.num_rows} events of {customers} customers")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
