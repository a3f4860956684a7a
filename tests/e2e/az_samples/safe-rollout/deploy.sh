## A blue/green safe rollout, after Azure's cli/deploy-safe-rollout-online-endpoints.sh:
## run it with `az` (or `alias az=epdev`), from the folder that holds endpoints/.
set -e

# <set_endpoint_name>
export ENDPOINT_NAME="${ENDPOINT_NAME:-endpt-`echo $RANDOM`}"
# </set_endpoint_name>

# The scoring calls must answer what the model answers (see make_model.py).
check_answer() {
  python3 -c '
import json, math, sys
got, want = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert len(got) == len(want) and all(math.isclose(g, w, rel_tol=1e-6) for g, w in zip(got, want)), (got, want)
' "$1" "$2"
}

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
az ml online-endpoint create --name $ENDPOINT_NAME -f endpoints/online/managed/saferollout/endpoint.yml
# </create_endpoint>

endpoint_status=`az ml online-endpoint show --name $ENDPOINT_NAME --query "provisioning_state" -o tsv`
check_state "$endpoint_status" "endpoint creation"

# <create_blue>
az ml online-deployment create --name blue --endpoint $ENDPOINT_NAME -f endpoints/online/managed/saferollout/blue-deployment.yml --all-traffic
# </create_blue>

deploy_status=`az ml online-deployment show --name blue --endpoint $ENDPOINT_NAME --query "provisioning_state" -o tsv`
check_state "$deploy_status" "blue deployment"

# <test_blue>
az ml online-endpoint invoke --name $ENDPOINT_NAME --request-file endpoints/online/model-1/sample-request.json > blue-answer.json
check_answer blue-answer.json endpoints/online/model-1/expected.json
# </test_blue>

# <scale_blue>
az ml online-deployment update --name blue --endpoint $ENDPOINT_NAME --set instance_count=2
# </scale_blue>

instances=`az ml online-deployment show --name blue --endpoint-name $ENDPOINT_NAME --query instance_count -o tsv`
[[ $instances == 2 ]] || { echo "blue has $instances instance(s), not 2"; exit 1; }

# <create_green>
az ml online-deployment create --name green --endpoint $ENDPOINT_NAME -f endpoints/online/managed/saferollout/green-deployment.yml
# </create_green>

# <get_traffic>
az ml online-endpoint show -n $ENDPOINT_NAME --query traffic
# </get_traffic>

green_traffic=`az ml online-endpoint show -n $ENDPOINT_NAME --query traffic.green -o tsv`
[[ ${green_traffic:-0} == 0 ]] || { echo "green has $green_traffic% of the traffic before the rollout"; exit 1; }

# <test_green>
az ml online-endpoint invoke --name $ENDPOINT_NAME --deployment green --request-file endpoints/online/model-2/sample-request.json > green-answer.json
check_answer green-answer.json endpoints/online/model-2/expected.json
# </test_green>

# <test_green_using_curl>
ENDPOINT_KEY=$(az ml online-endpoint get-credentials -n $ENDPOINT_NAME -o tsv --query primaryKey)

SCORING_URI=$(az ml online-endpoint show -n $ENDPOINT_NAME -o tsv --query scoring_uri)

curl --fail-with-body --silent --show-error --request POST "$SCORING_URI" --header "Authorization: Bearer $ENDPOINT_KEY" --header 'Content-Type: application/json' --header "azureml-model-deployment: green" --data @endpoints/online/model-2/sample-request.json > green-curl.json
check_answer green-curl.json endpoints/online/model-2/expected.json
# </test_green_using_curl>

# A call with no key is refused.
status=$(curl --silent --output /dev/null --write-out "%{http_code}" --request POST "$SCORING_URI" --header 'Content-Type: application/json' --data @endpoints/online/model-2/sample-request.json)
[[ $status == 401 ]] || { echo "a call without the key got $status, not 401"; exit 1; }

# <green_10pct_traffic>
az ml online-endpoint update --name $ENDPOINT_NAME --traffic "blue=90 green=10"
# </green_10pct_traffic>

traffic=`az ml online-endpoint list --query "[?name=='$ENDPOINT_NAME'].traffic" -o tsv`
[[ $traffic == $'90\t10' ]] || { echo "the split is $traffic, not blue 90 and green 10"; exit 1; }

# <mirror_traffic>
az ml online-endpoint update --name $ENDPOINT_NAME --traffic "blue=100 green=0"
az ml online-endpoint update --name $ENDPOINT_NAME --mirror-traffic "green=10"
# </mirror_traffic>

mirrored=`az ml online-endpoint show -n $ENDPOINT_NAME --query mirror_traffic.green -o tsv`
[[ $mirrored == 10 ]] || { echo "green mirrors $mirrored%, not 10%"; exit 1; }

# Live calls still answer from blue while green gets copies.
curl --fail-with-body --silent --show-error --request POST "$SCORING_URI" --header "Authorization: Bearer $ENDPOINT_KEY" --header 'Content-Type: application/json' --data @endpoints/online/model-1/sample-request.json > blue-curl.json
check_answer blue-curl.json endpoints/online/model-1/expected.json

# <reset_mirror_traffic>
az ml online-endpoint update --name $ENDPOINT_NAME --mirror-traffic "green=0"
# </reset_mirror_traffic>

# <green_100pct_traffic>
az ml online-endpoint update --name $ENDPOINT_NAME --traffic blue=0 green=100
# </green_100pct_traffic>

curl --fail-with-body --silent --show-error --request POST "$SCORING_URI" --header "Authorization: Bearer $ENDPOINT_KEY" --header 'Content-Type: application/json' --data @endpoints/online/model-2/sample-request.json > all-green.json
check_answer all-green.json endpoints/online/model-2/expected.json

# <get_logs>
az ml online-deployment get-logs --name green --endpoint $ENDPOINT_NAME --lines 50 > green-logs.txt
# </get_logs>
grep -q "Request processed" green-logs.txt || { echo "green's logs lack its scoring lines"; cat green-logs.txt; exit 1; }

az ml online-deployment get-logs --name green --endpoint $ENDPOINT_NAME --container storage-initializer

# <delete_blue>
az ml online-deployment delete --name blue --endpoint $ENDPOINT_NAME --yes --no-wait
# </delete_blue>

# <delete_endpoint>
az ml online-endpoint delete --name $ENDPOINT_NAME --yes --no-wait
# </delete_endpoint>
