"""Unit tests of the handler, run by the pipeline's `script` step (standard library only)."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import lambda_function  # noqa: E402


class Context:
    aws_request_id = "unit-test"


class HandlerTest(unittest.TestCase):
    def test_greets(self):
        out = lambda_function.lambda_handler({"name": "unit"}, Context())
        self.assertEqual(out["statusCode"], 200)
        self.assertEqual(json.loads(out["body"]), {"message": "Hello, unit!"})

    def test_rejects_unknown_action(self):
        out = lambda_function.lambda_handler({"action": "nope"}, Context())
        self.assertEqual(out["statusCode"], 400)


if __name__ == "__main__":
    unittest.main()
