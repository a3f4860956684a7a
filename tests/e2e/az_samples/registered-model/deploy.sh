## A deployment of a registered model, after Azure's cli/deploy-moe-minimal-single-model-registered.sh:
## run it with `az` (or `alias az=epdev`), from the folder that holds endpoints/.
set -e

# <set_variables>
RAND=`echo $RANDOM`
export ENDPOINT_NAME="${ENDPOINT_NAME:-endpt-moe-$RAND}"
MODEL_NAME="smr-ridge-$RAND"
MODEL_VERSION=$RAND
ASSET_PATH=endpoints/online/model-1
# </set_variables>

BASE_PATH=endpoints/online/managed/minimal/single-model-registered

# <create_endpoint>
az ml online-endpoint create -n $ENDPOINT_NAME
# </create_endpoint>

# Check if endpoint was successful
endpoint_status=`az ml online-endpoint show --name $ENDPOINT_NAME --query "provisioning_state" -o tsv `
endpoint_status="${endpoint_status##*.}"
echo $endpoint_status
if [[ "${endpoint_status^^}" == "SUCCEEDED" ]]
then
  echo "Endpoint created successfully"
else
  echo "Endpoint creation failed"
  exit 1
fi

auth_mode=`az ml online-endpoint show --name $ENDPOINT_NAME --query auth_mode -o tsv`
[[ $auth_mode == "key" ]] || { echo "an endpoint created with only a name uses $auth_mode, not key"; exit 1; }

# <register_model>
az ml model create -f $BASE_PATH/model.yml --name $MODEL_NAME --set version=$MODEL_VERSION
# </register_model>

registered=`az ml model show --name $MODEL_NAME --version $MODEL_VERSION --query "{name:name, version:version, type:type, features:tags.features}" -o tsv`
[[ $registered == "$MODEL_NAME"$'\t'"$MODEL_VERSION"$'\t'"custom_model"$'\t'"10" ]] || { echo "registered: $registered"; exit 1; }
latest=`az ml model list --name $MODEL_NAME --query "[-1].version" -o tsv`
[[ $latest == $MODEL_VERSION ]] || { echo "the latest version is $latest, not $MODEL_VERSION"; exit 1; }

# <create_deployment>
az ml online-deployment create -f $BASE_PATH/deployment.yml --endpoint-name $ENDPOINT_NAME --set model=azureml:$MODEL_NAME:$MODEL_VERSION --all-traffic
# </create-deployment>

# Check if deployment was successful
deploy_status=`az ml online-deployment show --name smr --endpoint $ENDPOINT_NAME --query "provisioning_state" -o tsv `
deploy_status="${deploy_status##*.}"
echo $deploy_status
if [[ "${deploy_status^^}" == "SUCCEEDED" ]]
then
  echo "Deployment completed successfully"
else
  echo "Deployment failed"
  exit 1
fi

model=`az ml online-deployment show --name smr --endpoint $ENDPOINT_NAME --query model -o tsv`
[[ $model == "azureml:$MODEL_NAME:$MODEL_VERSION" ]] || { echo "the deployment serves $model"; exit 1; }

# Get key
echo "Getting access key..."
KEY=$(az ml online-endpoint get-credentials -n $ENDPOINT_NAME --query primaryKey -o tsv )

# Get scoring url
echo "Getting scoring url..."
SCORING_URL=$(az ml online-endpoint show -n $ENDPOINT_NAME --query scoring_uri -o tsv )
echo "Scoring url is $SCORING_URL"

# <test_deployment>
curl --fail-with-body --silent --show-error -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" -d @$ASSET_PATH/sample-request.json $SCORING_URL > answer.json
# </test_deployment>

python3 -c '
import json, math, sys
got, want = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert len(got) == len(want) and all(math.isclose(g, w, rel_tol=1e-6) for g, w in zip(got, want)), (got, want)
' answer.json $ASSET_PATH/expected.json

# The deployment's logs say which registered version it runs.
az ml online-deployment get-logs --name smr --endpoint-name $ENDPOINT_NAME --container storage-initializer > prep.txt
grep -q "$MODEL_NAME:$MODEL_VERSION" prep.txt || { echo "the preparation lines do not name the model:"; cat prep.txt; exit 1; }

# <delete_online_endpoint>
az ml online-endpoint delete -y -n $ENDPOINT_NAME --no-wait
# </delete_online_endpoint>
