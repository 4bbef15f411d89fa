"""Cloud Functions' (2nd gen) entry point (`main.main`, an HTTP function)."""
import functions_framework

from greeting import greet


@functions_framework.http
def main(request):
    return greet(request.get_json(silent=True), "gcp")
