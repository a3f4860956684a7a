## A batch endpoint over a registered model and data asset, after Azure's
## cli/endpoints/batch/deploy-models/*/deploy-and-run.sh: run it with `az` (or `alias az=epdev`).
set -e

# <set_variables>
export ENDPOINT_NAME="${ENDPOINT_NAME:-heart-classifier-`echo $RANDOM`}"
# </set_variables>

check_job() {
  STATUS=$(az ml job show -n $1 --query status -o tsv)
  echo $STATUS
  if [[ $STATUS == "Completed" ]]
  then
    echo "Job completed"
  elif [[ $STATUS ==  "Failed" ]]
  then
    echo "Job failed"
    exit 1
  else
    echo "Job status not failed or completed"
    exit 2
  fi
}

# Every input row has one prediction in the output file.
check_rows() {
  python3 -c '
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
assert len(rows) == int(sys.argv[2]), f"{len(rows)} rows, not {sys.argv[2]}"
assert all(r[2] in ("0", "1") for r in rows), rows[:3]
' "$1" "$2"
}

# <register_model>
MODEL_NAME='heart-classifier-sklpipe'
az ml model create --name $MODEL_NAME --type "custom_model" --path "model"
# </register_model>

# <register_dataset>
az ml data create -f heart-dataset-unlabeled.yml
# </register_dataset>

echo "Creating compute"
# <create_compute>
az ml compute create -n batch-cluster --type amlcompute --min-instances 0 --max-instances 5
# </create_compute>

echo "Creating batch endpoint $ENDPOINT_NAME"
# <create_batch_endpoint>
az ml batch-endpoint create -n $ENDPOINT_NAME -f endpoint.yml
# </create_batch_endpoint>

echo "Creating batch deployment for endpoint $ENDPOINT_NAME"
# <create_batch_deployment_set_default>
az ml batch-deployment create --file deployment-custom/deployment.yml --endpoint-name $ENDPOINT_NAME --set-default
# </create_batch_deployment_set_default>

echo "Update the batch deployment as default for the endpoint"
# <update_default_deployment>
DEPLOYMENT_NAME="classifier-sklearn-custom"
az ml batch-endpoint update --name $ENDPOINT_NAME --set defaults.deployment_name=$DEPLOYMENT_NAME
# </update_default_deployment>

# <verify_default_deployment>
az ml batch-endpoint show --name $ENDPOINT_NAME --query "{Name:name, Defaults:defaults}"
# </verify_default_deployment>
default=$(az ml batch-endpoint show --name $ENDPOINT_NAME --query defaults.deployment_name -o tsv)
[[ $default == $DEPLOYMENT_NAME ]] || { echo "the default deployment is $default"; exit 1; }

echo "Showing details of the batch deployment"
# <check_batch_deployment_detail>
az ml batch-deployment show --name $DEPLOYMENT_NAME --endpoint-name $ENDPOINT_NAME
# </check_batch_deployment_detail>

echo "Invoking batch endpoint"
# <start_batch_scoring_job>
JOB_NAME=$(az ml batch-endpoint invoke --name $ENDPOINT_NAME --input azureml:heart-dataset-unlabeled@latest --query name -o tsv)
# </start_batch_scoring_job>

echo "Showing job detail"
# <show_job_in_studio>
az ml job show -n $JOB_NAME --web
# </show_job_in_studio>

echo "List all jobs under the batch deployment"
# <list_all_jobs>
az ml batch-deployment list-jobs --name $DEPLOYMENT_NAME --endpoint-name $ENDPOINT_NAME --query [].name
# </list_all_jobs>
az ml batch-deployment list-jobs --name $DEPLOYMENT_NAME --endpoint-name $ENDPOINT_NAME --query [].name -o tsv | grep -qx "$JOB_NAME"

echo "Stream job logs to console"
# <stream_job_logs_to_console>
az ml job stream -n $JOB_NAME
# </stream_job_logs_to_console>

check_job $JOB_NAME

echo "Download scores to local path"
# <download_scores>
az ml job download --name $JOB_NAME --output-name score --download-path ./
# </download_scores>
check_rows named-outputs/score/predictions.csv 40

echo "Invoke batch endpoint with local data, a datastore output path and specific overwrites"
# <start_batch_scoring_job_set_output>
OUTPUT_FILE_NAME=predictions_`echo $RANDOM`.csv
OUTPUT_PATH="azureml://datastores/workspaceblobstore/paths/$ENDPOINT_NAME"

JOB_NAME=$(az ml batch-endpoint invoke --name $ENDPOINT_NAME --deployment-name $DEPLOYMENT_NAME --input data --input-type uri_folder --output-path $OUTPUT_PATH --set output_file_name=$OUTPUT_FILE_NAME --mini-batch-size 3 --instance-count 1 --query name -o tsv)
# </start_batch_scoring_job_set_output>

az ml job stream -n $JOB_NAME
check_job $JOB_NAME
OUTPUT_FILE=$(az ml job show -n $JOB_NAME --query outputs.file -o tsv)
[[ $OUTPUT_FILE == */$ENDPOINT_NAME/$OUTPUT_FILE_NAME ]] || { echo "the output went to $OUTPUT_FILE"; exit 1; }
check_rows "$OUTPUT_FILE" 40

echo "Invoke batch endpoint with a single file"
JOB_NAME=$(az ml batch-endpoint invoke --name $ENDPOINT_NAME --input data/part-000.csv --input-type uri_file --query name -o tsv)
az ml job stream -n $JOB_NAME
check_job $JOB_NAME
mkdir -p single
az ml job download --name $JOB_NAME --output-name score --download-path single
check_rows single/named-outputs/score/predictions.csv 8

echo "Delete resources"
# <delete_deployment>
az ml batch-deployment delete --name $DEPLOYMENT_NAME --endpoint-name $ENDPOINT_NAME --yes
# </delete_deployment>

# <delete_endpoint>
az ml batch-endpoint delete --name $ENDPOINT_NAME --yes
# </delete_endpoint>
