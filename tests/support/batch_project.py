"""A batch endpoint sample built on the fly: Azure-style batch scripts, a linear model fitted
here, CSV and image-like inputs, and the endpoint and deployment YAML.

root/
  model/model.npz                    (a linear model on columns x1, x2: coef, intercept)
  code/tabular.py                    (reads CSVs, returns a DataFrame: file, row, prediction)
  code/listing.py                    (returns one "name,size" text per file)
  code/picky.py                      (raises for a mini-batch holding a file named bad*)
  code/flaky.py                      (each mini-batch fails on its first attempt)
  code/slow.py                       (sleeps EPDEV_TEST_SLEEP seconds per file)
  code/summary.py                    (summary_only: writes its own files)
  csv/part-NNN.csv                   (CSV files of `rows` rows each)
  images/img-NNN.png                 (random bytes)
  endpoint.yml, tabular.yml, ...     (one deployment per script)
"""

from __future__ import annotations

import csv
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

BATCH_ENDPOINT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json"
BATCH_DEPLOYMENT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/batchDeployment.schema.json"

SCRIPTS = {
    "tabular.py": """\
        import os

        import numpy as np
        import pandas as pd


        def init():
            global coef, intercept
            folder = os.environ["AZUREML_MODEL_DIR"]
            with np.load(os.path.join(folder, "model", "model.npz")) as fitted:
                coef, intercept = fitted["coef"], float(fitted["intercept"])


        def run(mini_batch):
            frames = []
            for path in mini_batch:
                data = pd.read_csv(path)
                predicted = data[["x1", "x2"]].to_numpy() @ coef + intercept
                frames.append(
                    pd.DataFrame(
                        {
                            "file": os.path.basename(path),
                            "row": data["row"],
                            "prediction": predicted.round(6),
                        }
                    )
                )
            return pd.concat(frames)
        """,
    "listing.py": """\
        import os


        def init():
            pass


        def run(mini_batch):
            return [f"{os.path.basename(p)},{os.path.getsize(p)}" for p in mini_batch]
        """,
    "picky.py": """\
        import os


        def init():
            pass


        def run(mini_batch):
            for path in mini_batch:
                if os.path.basename(path).startswith("bad"):
                    raise ValueError(f"cannot score {os.path.basename(path)}")
            return [os.path.basename(p) for p in mini_batch]
        """,
    "flaky.py": """\
        import logging
        import os
        from pathlib import Path


        def init():
            pass


        def run(mini_batch):
            logging.info("flaky: %d files", len(mini_batch))
            marker = Path(os.environ["EPDEV_TEST_MARKERS"]) / Path(mini_batch[0]).name
            if not marker.exists():
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
                raise RuntimeError("flaky: first attempt fails")
            return [os.path.basename(p) for p in mini_batch]
        """,
    "summary.py": """\
        import os
        from pathlib import Path


        def init():
            pass


        def run(mini_batch):
            out = Path(os.environ["AZUREML_BI_OUTPUT_PATH"])
            for path in mini_batch:
                (out / (Path(path).name + ".seen")).write_text("ok")
            return mini_batch
        """,
    "slow.py": """\
        import os
        import time


        def init():
            pass


        def run(mini_batch):
            for path in mini_batch:
                name = os.path.basename(path)
                pause = float(os.environ["EPDEV_TEST_SLEEP"])
                time.sleep(60 if name.startswith("stuck") else pause)
            return [os.path.basename(p) for p in mini_batch]
        """,
}


@dataclass(frozen=True)
class BatchProject:
    root: Path

    @property
    def endpoint_yml(self) -> Path:
        return self.root / "endpoint.yml"

    def deployment_yml(self, script: str) -> Path:
        return self.root / f"{script}.yml"

    @property
    def csv_dir(self) -> Path:
        return self.root / "csv"

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    def folder(self, name: str, files: dict[str, bytes]) -> Path:
        """A folder of input files made for one test."""
        folder = self.root / "inputs" / name
        folder.mkdir(parents=True)
        for file, data in files.items():
            (folder / file).write_bytes(data)
        return folder


def train_model(path: Path) -> None:
    """Least squares with an intercept, saved as its coefficients: numpy alone loads it, where a
    scikit-learn model would cost each of a job's instances 2 s of CPU to import scikit-learn."""
    import numpy as np

    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 2))
    y = 3 * x[:, 0] - 2 * x[:, 1] + 0.5
    fitted = np.linalg.lstsq(np.column_stack([x, np.ones(len(x))]), y, rcond=None)[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, coef=fitted[:2], intercept=fitted[2])


def write_csvs(folder: Path, files: int, rows: int, seed: int = 1) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        values = rng.normal(size=(rows, 2)).round(4)
        with (folder / f"part-{index:03d}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["row", "x1", "x2"])
            for row, (x1, x2) in enumerate(values):
                writer.writerow([row, x1, x2])


def deployment_text(
    script: str, endpoint: str = "batch-sample", settings: str = "", env: str = ""
) -> str:
    return (
        textwrap.dedent(
            f"""\
        $schema: {BATCH_DEPLOYMENT_SCHEMA}
        name: {script}
        endpoint_name: {endpoint}
        type: model
        model:
          path: model
        code_configuration:
          code: code
          scoring_script: {script}.py
        compute: azureml:batch-cluster
        resources:
          instance_count: 2
        settings:
          mini_batch_size: 2
          retry_settings:
            max_retries: 1
            timeout: 30
        """
        )
        + textwrap.indent(settings, "  ")
        + env
    )


def make_batch_project(root: Path, csv_files: int = 12, csv_rows: int = 50) -> BatchProject:
    project = BatchProject(root)
    (root / "code").mkdir(parents=True)
    for name, text in SCRIPTS.items():
        (root / "code" / name).write_text(textwrap.dedent(text))
    train_model(root / "model" / "model.npz")
    write_csvs(project.csv_dir, csv_files, csv_rows)
    project.images_dir.mkdir()
    for index in range(9):
        (project.images_dir / f"img-{index:03d}.png").write_bytes(os.urandom(100 + index))
    project.endpoint_yml.write_text(
        f"$schema: {BATCH_ENDPOINT_SCHEMA}\nname: batch-sample\ndescription: tests\n"
    )
    for script in ("tabular", "listing", "picky", "flaky", "slow", "summary"):
        env = ""
        if script == "flaky":
            env = f"  environment_variables:\n    EPDEV_TEST_MARKERS: {root / 'markers'}\n"
        if script == "slow":
            env = "  environment_variables:\n    EPDEV_TEST_SLEEP: '0.3'\n"
        if script == "summary":
            env = "  output_action: summary_only\n"
        project.deployment_yml(script).write_text(deployment_text(script, env=env))
    return project
