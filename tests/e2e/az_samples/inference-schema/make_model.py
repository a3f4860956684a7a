"""Write the sample's model: a linear model (coefficients and intercept) as JSON."""

import json
from pathlib import Path

Path("model").mkdir(exist_ok=True)
Path("model/linear.json").write_text(json.dumps({"coef": [1.0, 2.0, 3.0], "intercept": 0.5}))
