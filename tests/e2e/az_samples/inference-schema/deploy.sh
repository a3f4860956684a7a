## A scoring script decorated with inference-schema (standard, numpy and pandas parameters),
## after Azure's cli/deploy-*.sh scripts: run it with `az` (or `alias az=epdev`) from this folder.
set -e

# <set_endpoint_name>
export ENDPOINT_NAME="${ENDPOINT_NAME:-endpt-`echo $RANDOM`}"
# </set_endpoint_name>

check_state() {
  if [[ $1 == "Succeeded" ]]
  then
    echo "$2 succeeded"
  else
    echo "$2 failed: $1"
    exit 1
  fi
}

# <create_endpoint>
az ml online-endpoint create -n $ENDPOINT_NAME -f endpoint.yml
# </create_endpoint>

endpoint_status=`az ml online-endpoint show --name $ENDPOINT_NAME --query "provisioning_state" -o tsv`
check_state "$endpoint_status" "endpoint creation"

# <create_deployment>
az ml online-deployment create --name blue --endpoint-name $ENDPOINT_NAME -f blue-deployment.yml --all-traffic
# </create_deployment>

deploy_status=`az ml online-deployment show --name blue --endpoint-name $ENDPOINT_NAME --query "provisioning_state" -o tsv`
check_state "$deploy_status" "blue deployment"

# <get_endpoint_details>
SCORING_URI=$(az ml online-endpoint show -n $ENDPOINT_NAME -o tsv --query scoring_uri)
OPENAPI_URI=$(az ml online-endpoint show -n $ENDPOINT_NAME -o tsv --query openapi_uri)
KEY=$(az ml online-endpoint get-credentials -n $ENDPOINT_NAME -o tsv --query primaryKey)
# </get_endpoint_details>

# <score_post>
# run() gets data as a numpy array, frame as a DataFrame and options as a dict.
RESPONSE=$(curl --fail-with-body --silent --show-error -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" --data @sample-request.json $SCORING_URI)
# </score_post>
echo "$RESPONSE"
echo "$RESPONSE" | python3 -c '
import json, sys
got = json.load(sys.stdin)
assert got == {"data": [29.0, 65.0], "frame": [29.0, 1.0], "types": ["ndarray", "DataFrame", "dict"]}, got
'

# <score_get>
# A GET on the scoring URI passes the query parameters (as JSON values) to run().
RESPONSE=$(curl --fail-with-body --silent --show-error -G -H "Authorization: Bearer $KEY" --data-urlencode 'data=[[1,2,3]]' --data-urlencode 'frame=[{"x1":1,"x2":2,"x3":3}]' $SCORING_URI)
# </score_get>
echo "$RESPONSE" | python3 -c '
import json, sys
got = json.load(sys.stdin)
assert got["data"] == [14.5] and got["frame"] == [14.5], got
'

# A body without one of run()'s parameters is refused with 400, naming it.
status=$(curl --silent --output /dev/null --write-out "%{http_code}" -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" --data '{"data": [[1, 2, 3]]}' $SCORING_URI)
[[ $status == 400 ]] || { echo "a body without frame got $status, not 400"; exit 1; }

# <get_swagger>
SWAGGER=$(curl --fail-with-body --silent --show-error -H "Authorization: Bearer $KEY" $OPENAPI_URI)
# </get_swagger>
echo "$SWAGGER" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
assert doc["swagger"] == "2.0", doc
service_input = doc["definitions"]["ServiceInput"]
assert sorted(service_input["properties"]) == ["data", "frame", "options"], service_input
assert service_input["example"]["options"] == {"scale": 1.0}, service_input
assert doc["definitions"]["ServiceOutput"]["example"]["types"] == ["ndarray", "DataFrame", "dict"]
'

# <get_openapi3>
OPENAPI=$(curl --fail-with-body --silent --show-error -H "Authorization: Bearer $KEY" "$OPENAPI_URI?version=3")
# </get_openapi3>
echo "$OPENAPI" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
assert doc["openapi"].startswith("3."), doc
assert "frame" in doc["components"]["schemas"]["ServiceInput"]["properties"], doc
'

# The swagger document needs the key, as the scoring URI does.
status=$(curl --silent --output /dev/null --write-out "%{http_code}" $OPENAPI_URI)
[[ $status == 401 ]] || { echo "the swagger without the key got $status, not 401"; exit 1; }

# <get_logs>
LOGS=$(az ml online-deployment get-logs --name blue --endpoint-name $ENDPOINT_NAME --lines 50)
# </get_logs>
echo "$LOGS" | grep -q "Request processed" || { echo "the logs lack the scoring lines"; echo "$LOGS"; exit 1; }

# <delete_endpoint>
az ml online-endpoint delete --name $ENDPOINT_NAME --yes
# </delete_endpoint>
