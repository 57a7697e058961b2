"""Where 05's clustering comes from: the GM-VAE trained from three starts, over several seeds.

    python benchmarks/gmvae_starts.py [--seeds 5]

The solution runs in the grading sandbox, as in benchmarks/notebooks.py, with
one line of its training cell changed: the groups that the mixture starts
from.  The notebook's start is k-means on a t-SNE map of the training images;
the others are a Gaussian mixture fitted to the pre-trained codes (the usual
start for this model) and the true labels (the best a start can do).  For each,
the table prints the accuracy of the start on the test images, before joint
training, and the grader's held-out accuracy and NMI after it.
"""

from __future__ import annotations

import argparse
import os

from notebooks import ROOT, print_table, run_once
from vicourse.course import read_notebook, source_notebook

NOTEBOOK_START = "groups = KMeans(10, n_init=10, random_state=SEED).fit_predict(tsne_map)"
STARTS = {
    "t-SNE groups (the notebook)": NOTEBOOK_START,
    "Gaussian mixture on the codes": 'groups = GaussianMixture(10, covariance_type="full", n_init=3, '
                                     "random_state=SEED).fit_predict(pretrained_train_codes)",
    "true labels": "groups = y_train",
}


def start_scores(student) -> dict:
    accuracy, nmi = student.value("scores")["GM-VAE before joint training"]
    return {"start test accuracy": accuracy, "start test NMI": nmi}


def renamed(row: dict) -> dict:
    return {"seconds": row["seconds"], "start test accuracy": row["start test accuracy"],
            "start test NMI": row["start test NMI"], "final test accuracy": row["gmvae test accuracy"],
            "final test NMI": row["gmvae test"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    cells = [cell.source for cell in read_notebook(source_notebook(ROOT, "05_gmvae")).cells]
    if sum(source.count(NOTEBOOK_START) for source in cells) != 1:
        raise SystemExit(f"the notebook no longer has the line this benchmark changes: {NOTEBOOK_START}")
    for name, line in STARTS.items():
        def edit(source, line=line):
            return source.replace(NOTEBOOK_START, line)

        rows = [renamed(run_once("05_gmvae", seed, "cpu", edit=edit, extra=start_scores))
                for seed in range(args.seeds)]
        print_table(f"05_gmvae, mixture started from: {name} ({os.cpu_count()} cores, CPU)", rows)


if __name__ == "__main__":
    main()
