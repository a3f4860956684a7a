## A local endpoint, after Azure's cli/deploy-local-endpoint.sh: with --local, calls from this
## machine need no key. Run it with `az` (or `alias az=epdev`), from the folder that holds endpoints/.
set -e

# <set_endpoint_name>
export ENDPOINT_NAME="${ENDPOINT_NAME:-endpt-`echo $RANDOM`}"
# </set_endpoint_name>

check_answer() {
  python3 -c '
import json, math, sys
got, want = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert len(got) == len(want) and all(math.isclose(g, w, rel_tol=1e-6) for g, w in zip(got, want)), (got, want)
' "$1" "$2"
}

# <create_endpoint>
az ml online-endpoint create --local -n $ENDPOINT_NAME -f endpoints/online/managed/sample/endpoint.yml
# </create_endpoint>

# <create_deployment>
az ml online-deployment create --local -n blue --endpoint $ENDPOINT_NAME -f endpoints/online/managed/sample/blue-deployment.yml
# </create_deployment>

# <get_status>
az ml online-endpoint show -n $ENDPOINT_NAME --local
# </get_status>

# check if create was successful
endpoint_status=`az ml online-endpoint show --local --name $ENDPOINT_NAME --query "provisioning_state" -o tsv`
echo $endpoint_status
if [[ $endpoint_status == "Succeeded" ]]
then
  echo "Endpoint created successfully"
else
  echo "Endpoint creation failed"
  exit 1
fi

deploy_status=`az ml online-deployment show --local --name blue --endpoint $ENDPOINT_NAME --query "provisioning_state" -o tsv`
echo $deploy_status
if [[ $deploy_status == "Succeeded" ]]
then
  echo "Deployment completed successfully"
else
  echo "Deployment failed"
  exit 1
fi

# <test_endpoint>
az ml online-endpoint invoke --local --name $ENDPOINT_NAME --request-file endpoints/online/model-1/sample-request.json > invoked.json
# </test_endpoint>
check_answer invoked.json endpoints/online/model-1/expected.json

# <test_endpoint_using_curl>
SCORING_URI=$(az ml online-endpoint show --local -n $ENDPOINT_NAME -o tsv --query scoring_uri)

curl --fail-with-body --silent --show-error --request POST "$SCORING_URI" --header 'Content-Type: application/json' --data @endpoints/online/model-1/sample-request.json > curled.json
# </test_endpoint_using_curl>
check_answer curled.json endpoints/online/model-1/expected.json
[[ $SCORING_URI == https://localhost:*/score ]] || { echo "the local scoring URI is $SCORING_URI"; exit 1; }

# <get_logs>
az ml online-deployment get-logs --local -n blue --endpoint $ENDPOINT_NAME
# </get_logs>

# <delete_endpoint>
az ml online-endpoint delete --local --name $ENDPOINT_NAME --yes
# </delete_endpoint>
