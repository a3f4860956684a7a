## A deployment whose code folder carries its own swagger2.json and swagger3.json, served at the
## endpoint's openapi_uri in place of generated ones; after Azure's cli/deploy-*.sh scripts.
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

# <score>
RESPONSE=$(curl --fail-with-body --silent --show-error -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" --data @sample-request.json $SCORING_URI)
# </score>
echo "$RESPONSE"
[[ $RESPONSE == "[14.5, 0.5]" ]] || { echo "unexpected answer: $RESPONSE"; exit 1; }

# <get_swagger>
SWAGGER=$(curl --fail-with-body --silent --show-error -H "Authorization: Bearer $KEY" $OPENAPI_URI)
# </get_swagger>
echo "$SWAGGER" | python3 -c '
import json, sys
served, mine = json.load(sys.stdin), json.load(open("onlinescoring/swagger2.json"))
assert served == mine, served
'

# <get_openapi3>
OPENAPI=$(curl --fail-with-body --silent --show-error -H "Authorization: Bearer $KEY" "$OPENAPI_URI?version=3")
# </get_openapi3>
echo "$OPENAPI" | python3 -c '
import json, sys
served, mine = json.load(sys.stdin), json.load(open("onlinescoring/swagger3.json"))
assert served == mine, served
'

# <get_logs>
az ml online-deployment get-logs --name blue --endpoint-name $ENDPOINT_NAME --lines 20
# </get_logs>

# <delete_endpoint>
az ml online-endpoint delete --name $ENDPOINT_NAME --yes
# </delete_endpoint>
