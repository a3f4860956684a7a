import logging
import struct

from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from azureml.contrib.services.aml_response import AMLResponse

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def init():
    logging.info("Init complete")


@rawhttp
def run(request: AMLRequest):
    if request.method == "GET":
        # Azure's raw-HTTP example answers a GET with what it was asked.
        return AMLResponse({"method": "GET", "args": request.args.to_dict()}, 200, json_str=True)
    if request.method != "POST":
        return AMLResponse("method not allowed", 405)
    upload = request.files.get("file")
    if upload is None:
        return AMLResponse({"error": "send an image as the form field 'file'"}, 400, json_str=True)
    image = upload.read()
    if not image.startswith(PNG_SIGNATURE):
        return AMLResponse({"error": f"{upload.filename} is not a PNG image"}, 415, json_str=True)
    width, height = struct.unpack(">II", image[16:24])
    logging.info("Request processed: %s, %dx%d", upload.filename, width, height)
    headers = {"Content-Type": "image/png", "X-Image-Size": f"{width}x{height}"}
    return AMLResponse(image, 200, headers)
