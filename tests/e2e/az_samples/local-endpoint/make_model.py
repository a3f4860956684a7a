"""Train the sample's model (a Ridge regression on 10 features) and write what it answers for
the sample request to expected.json beside it, for deploy.sh to check the calls against."""

import json
from pathlib import Path

import joblib
import numpy
from sklearn.linear_model import Ridge

folder = Path("endpoints/online/model-1")
rng = numpy.random.default_rng(5)
features = rng.normal(size=(200, 10))
target = features @ rng.normal(size=10) + rng.normal(scale=0.1, size=200)
model = Ridge(alpha=1.0).fit(features, target)
(folder / "model").mkdir(exist_ok=True)
joblib.dump(model, folder / "model/sklearn_regression_model.pkl")
request = json.loads((folder / "sample-request.json").read_text())
answer = model.predict(numpy.array(request["data"])).tolist()
(folder / "expected.json").write_text(json.dumps(answer))
