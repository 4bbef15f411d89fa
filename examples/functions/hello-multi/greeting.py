"""The function's logic, shared by the three clouds' entry points in this directory."""


def greet(event, cloud):
    name = (event or {}).get("name", "world")
    return {"message": f"hello, {name}", "cloud": cloud}
