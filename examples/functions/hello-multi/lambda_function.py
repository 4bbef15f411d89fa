"""AWS Lambda's entry point (`lambda_function.lambda_handler`): an API Gateway-style answer."""
import json

from greeting import greet


def lambda_handler(event, context):
    return {"statusCode": 200, "body": json.dumps(greet(event, "aws"))}
