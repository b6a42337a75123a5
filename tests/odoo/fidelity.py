"""Exercises the sandbox with Python's own XML-RPC and JSON clients; prints a JSON report.

Usage: fidelity.py URL DB LOGIN KEY
"""
import json
import sys
import urllib.error
import urllib.request
import xmlrpc.client

url, db, login, key = sys.argv[1:5]
common = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/common")
models = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/object")
report = {"version": common.version()}
report["uid"] = uid = common.authenticate(db, login, key, {})
report["bad_login"] = common.authenticate(db, login, "wrong", {})


def call(model, method, *args, **kwargs):
    return models.execute_kw(db, uid, key, model, method, list(args), kwargs)


def fault_code(fn):
    try:
        fn()
    except xmlrpc.client.Fault as fault:
        return fault.faultCode
    return None


partner = call("res.partner", "create", {"name": "Zoë & <Python>", "ref": "py-1"})
report["create_single"] = type(partner).__name__
report["create_list"] = type(call("res.partner", "create", [{"name": "A"}, {"name": "B"}])).__name__
tax = call("account.tax", "search_read", [["name", "=", "VAT 20%"]], fields=["id"])[0]["id"]
tax55 = call("account.tax", "search_read", [["name", "=", "VAT 5.5%"]], fields=["id"])[0]["id"]
move = call("account.move", "create", {
    "move_type": "out_invoice",
    "partner_id": partner,
    "invoice_line_ids": [
        [0, 0, {"name": "Shirt", "quantity": 2, "price_unit": 19.99, "discount": 10, "tax_ids": [[6, 0, [tax]]]}],
        [0, 0, {"name": "Book", "quantity": 1, "price_unit": 12.5, "tax_ids": [[6, 0, [tax55]]]}],
        [0, 0, {"name": "Shipping", "quantity": 1, "price_unit": 4.9, "tax_ids": [[6, 0, [tax]]]}],
    ],
})
call("account.move", "action_post", [move])
row = call("account.move", "read", [move], fields=["amount_untaxed", "amount_tax", "amount_total", "state"])[0]
report["amounts"] = ["%.2f" % row[f] for f in ("amount_untaxed", "amount_tax", "amount_total")]
report["state"] = row["state"]

# button_draft returns None in Odoo; with allow_none=False the server faults instead.
try:
    call("account.move", "button_draft", [move])
    report["none_fault"] = [None, False]
except xmlrpc.client.Fault as fault:
    report["none_fault"] = [fault.faultCode, "cannot marshal None" in fault.faultString]
report["bad_key_fault"] = fault_code(lambda: models.execute_kw(db, uid, "wrong", "res.partner", "search", [[]]))
report["private_fault"] = fault_code(lambda: call("account.move", "_post", [move]))
# As in Odoo, button_draft's work was committed before its answer failed to marshal: the move is a
# draft again. Posting it works once; posting it twice is a UserError.
call("account.move", "action_post", [move])
report["user_error_fault"] = fault_code(lambda: call("account.move", "action_post", [move]))


def json2(model, method, body, auth=key, http_method="POST"):
    request = urllib.request.Request(
        f"{url}/json/2/{model}/{method}",
        data=json.dumps(body).encode() if http_method == "POST" else None,
        method=http_method,
        headers={"Authorization": f"bearer {auth}", "Content-Type": "application/json", "X-Odoo-Database": db},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return [response.status, type(json.load(response)).__name__]
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        try:
            return [error.code, json.loads(text).get("name")]
        except ValueError:
            return [error.code, None]


report["json2"] = {
    "create": json2("res.partner", "create", {"vals_list": [{"name": "J"}]}),
    "bad_key": json2("res.partner", "search", {"domain": []}, auth="wrong"),
    "ids_to_model_method": json2("res.partner", "search", {"ids": [1], "domain": []}),
    "unknown_model": json2("x.nothing", "search", {"domain": []}),
    "user_error": json2("account.move", "action_post", {"ids": [move]}),
    "get": json2("res.partner", "search", {}, http_method="GET"),
}
print(json.dumps(report))
