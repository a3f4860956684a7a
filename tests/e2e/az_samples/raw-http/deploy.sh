## A raw-HTTP scoring script (@rawhttp and AMLResponse): an image uploaded as multipart/form-data
## comes back as image/png bytes; after Azure's cli/deploy-*.sh scripts.
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

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

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
KEY=$(az ml online-endpoint get-credentials -n $ENDPOINT_NAME -o tsv --query primaryKey)
# </get_endpoint_details>

# <upload_image>
curl --fail-with-body --silent --show-error -H "Authorization: Bearer $KEY" -F "file=@sample-data/image.png" --dump-header "$WORK/headers.txt" --output "$WORK/answer.png" $SCORING_URI
# </upload_image>
cmp sample-data/image.png "$WORK/answer.png" || { echo "the image came back changed"; exit 1; }
grep -qi "^content-type: image/png" "$WORK/headers.txt" || { echo "not image/png:"; cat "$WORK/headers.txt"; exit 1; }
grep -qi "^x-image-size: 16x8" "$WORK/headers.txt" || { echo "no X-Image-Size: 16x8:"; cat "$WORK/headers.txt"; exit 1; }

# <get_request>
RESPONSE=$(curl --fail-with-body --silent --show-error -H "Authorization: Bearer $KEY" "$SCORING_URI?label=cat&top=3")
# </get_request>
echo "$RESPONSE"
[[ $RESPONSE == '{"method": "GET", "args": {"label": "cat", "top": "3"}}' ]] || { echo "unexpected answer: $RESPONSE"; exit 1; }

# A form without the image is refused with the script's own 400.
status=$(curl --silent --output "$WORK/refused.json" --write-out "%{http_code}" -H "Authorization: Bearer $KEY" -F "label=cat" $SCORING_URI)
[[ $status == 400 ]] || { echo "a form without the image got $status, not 400"; exit 1; }
grep -q "form field 'file'" "$WORK/refused.json"

# <get_logs>
LOGS=$(az ml online-deployment get-logs --name blue --endpoint-name $ENDPOINT_NAME --lines 50)
# </get_logs>
echo "$LOGS" | grep -q "Request processed: image.png, 16x8" || { echo "the logs lack the scoring lines"; echo "$LOGS"; exit 1; }

# <delete_endpoint>
az ml online-endpoint delete --name $ENDPOINT_NAME --yes
# </delete_endpoint>
