set -e

# An MLflow model deployed with no scoring script (no-code deployment), called with Azure's
# input_data format; as Azure's cli/deploy-managed-online-endpoint-ncd.sh.

# <set_endpoint_name>
export ENDPOINT_NAME="${ENDPOINT_NAME:-endpt-ncd-$RANDOM}"
# </set_endpoint_name>

# <create_endpoint>
az ml online-endpoint create --name $ENDPOINT_NAME -f create-endpoint.yaml
# </create_endpoint>

# check if create was successful
endpoint_status=`az ml online-endpoint show --name $ENDPOINT_NAME --query "provisioning_state" -o tsv`
echo $endpoint_status
if [[ $endpoint_status == "Succeeded" ]]
then
  echo "Endpoint created successfully"
else
  echo "Endpoint creation failed"
  exit 1
fi

# <create_sklearn_deployment>
az ml online-deployment create --name sklearn-deployment --endpoint $ENDPOINT_NAME -f sklearn-deployment.yaml --all-traffic
# </create_sklearn_deployment>

deploy_status=`az ml online-deployment show --name sklearn-deployment --endpoint $ENDPOINT_NAME --query "provisioning_state" -o tsv`
echo $deploy_status
if [[ $deploy_status == "Succeeded" ]]
then
  echo "Deployment completed successfully"
else
  echo "Deployment failed"
  exit 1
fi

# <test_sklearn_deployment>
az ml online-endpoint invoke --name $ENDPOINT_NAME --request-file sample-request-sklearn.json
# </test_sklearn_deployment>

# <get_scoring_uri_and_key>
SCORING_URI=$(az ml online-endpoint show -n $ENDPOINT_NAME --query scoring_uri -o tsv)
ENDPOINT_KEY=$(az ml online-endpoint get-credentials -n $ENDPOINT_NAME --query primaryKey -o tsv)
# </get_scoring_uri_and_key>

# input_data in split orientation: Azure answers a bare list of predictions.
answer=$(curl --fail-with-body -sS -X POST "$SCORING_URI" \
  -H "Authorization: Bearer $ENDPOINT_KEY" -H "Content-Type: application/json" \
  -d @sample-request-sklearn.json)
echo $answer
python3 -c 'import json, sys; p = json.loads(sys.argv[1]); assert isinstance(p, list) and len(p) == 2 and all(isinstance(v, float) for v in p), p' "$answer"

# MLflow's own format keeps working: {"predictions": [...]}.
answer=$(curl --fail-with-body -sS -X POST "$SCORING_URI" \
  -H "Authorization: Bearer $ENDPOINT_KEY" -H "Content-Type: application/json" \
  -d '{"dataframe_split": {"columns": ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"], "data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}}')
echo $answer
python3 -c 'import json, sys; p = json.loads(sys.argv[1])["predictions"]; assert len(p) == 1, p' "$answer"

# A request with the wrong fields is told which it sent and which are accepted.
status=$(curl -sS -o wrong-fields.json -w "%{http_code}" -X POST "$SCORING_URI" \
  -H "Authorization: Bearer $ENDPOINT_KEY" -H "Content-Type: application/json" \
  -d '{"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}')
cat wrong-fields.json
if [[ $status != "400" ]] || ! grep -q "Received the fields 'data'" wrong-fields.json
then
  echo "expected a 400 naming the fields received, got $status"
  exit 1
fi
rm -f wrong-fields.json

# <get_logs>
az ml online-deployment get-logs --name sklearn-deployment --endpoint $ENDPOINT_NAME --lines 50
# </get_logs>

# <delete_endpoint>
az ml online-endpoint delete --name $ENDPOINT_NAME --yes
# </delete_endpoint>
