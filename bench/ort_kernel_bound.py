"""How fast could ONNX Runtime score this model at best? Times the exported model against copies
of it with the two things that keep ONNX Runtime's TreeEnsemble kernel off its fastest loop
removed: missing-value tracks (NaN direction per split) and set-membership (categorical) splits.
The copies do not score correctly; they only bound what any exact export could gain.

Usage: ort_kernel_bound.py FEATURES.parquet MODEL.onnx ROWS THREADS RUNS
Prints "exact_seconds without_tracks_and_sets_seconds rows".
"""
import copy
import sys
import tempfile

import onnx
import pyarrow.parquet as pq
from onnx import numpy_helper

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from score_reference import features_matrix, median_time, score_batches, session  # noqa: E402


def simplified(model_path, out_path):
    m = onnx.load(model_path)
    node = next(n for n in m.graph.node if n.op_type == "TreeEnsemble")
    at = {a.name: a for a in node.attribute}
    tracks = at.get("nodes_missing_value_tracks_true")
    if tracks is not None:
        k = len(tracks.ints)
        del tracks.ints[:]
        tracks.ints.extend([0] * k)
    modes = numpy_helper.to_array(at["nodes_modes"].t).copy()
    splits = numpy_helper.to_array(at["nodes_splits"].t).copy()
    member = modes == 6  # BRANCH_MEMBER
    splits[member] = 0.5
    modes[member] = 0  # BRANCH_LEQ
    at["nodes_modes"].t.CopyFrom(numpy_helper.from_array(modes))
    at["nodes_splits"].t.CopyFrom(numpy_helper.from_array(splits))
    if "membership_values" in at:
        node.attribute.remove(at["membership_values"])
    onnx.save(copy.deepcopy(m), out_path)


def main():
    features, model, rows, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    X = features_matrix(pq.read_table(features).to_pandas())[:rows]
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        bound = f"{tmp}/kernel_bound.onnx"
        simplified(model, bound)
        for path in (model, bound):
            s = session(threads, path)
            times.append(median_time(lambda: score_batches(s, X, 65536), runs))
    print(f"{times[0]:.3f} {times[1]:.3f} {len(X)}")


if __name__ == "__main__":
    main()
