"""What an MLflow 2.21+ client sends to the model registry, request by
request, and the prompt-tag rule of MLflow's SQL store (MLFLOW-3X.md §2.7).

From 2.21 on, `MlflowClient.search_registered_models` appends
``tag.`mlflow.prompt.is_prompt` != 'true'`` to every search (joined with
" AND " to the user's filter; mlflow/prompt/registry_utils.py
add_prompt_filter_string), and `register_prompt` stores a prompt as a
registered model and versions tagged `mlflow.prompt.is_prompt` = `true`
whose version source is "dummy-source".  MLflow's SQL store
(sqlalchemy_store._get_search_registered_model_filter_query and
_update_query_to_exclude_prompts, 2.21 to 3.10) reads the term specially:
unless the filter asks for prompts (its first is_prompt clause is
`= 'true'` or `!= 'false'`, value compared without case), every clause on
that key is dropped and the models (versions: the models whose versions)
carrying the tag with the exact value 'true' are left out, so models
without the tag match.  Against a 2.9 store the client's plain search
returns nothing at all.

PyPI is closed here, so the bodies below are what the client sends, written
out (requests' urlencode of the query for GETs, json.dumps for bodies).
"""

import unittest

import mtapi
from mtapi import API, ApiTestCase, call, uniq

IS_PROMPT = "mlflow.prompt.is_prompt"
# add_prompt_filter_string(None, is_prompt=False), verbatim.
NOT_PROMPT = "tag.`%s` != 'true'" % IS_PROMPT


def setUpModule():
    mtapi.wait_ready()


def client_search(filter_string=None, max_results=100, order_by=None, page_token=None):
    """MlflowClient.search_registered_models of a 2.21+ client: the filter
    gets the prompt term, then GET registered-models/search with the set
    fields of SearchRegisteredModels as query parameters."""
    if filter_string and IS_PROMPT not in filter_string:
        filter_string = "%s AND %s" % (filter_string, NOT_PROMPT)
    elif not filter_string:
        filter_string = NOT_PROMPT
    q = [("filter", filter_string), ("max_results", max_results)]
    for o in order_by or []:
        q.append(("order_by", o))
    if page_token:
        q.append(("page_token", page_token))
    return call("GET", API + "registered-models/search", query=q)


def names(body, field="registered_models"):
    return [m["name"] for m in body.get(field, [])]


class TestPromptFilterReplay(ApiTestCase):
    """One 2.21+ session: models and a prompt created, then listed."""

    @classmethod
    def setUpClass(cls):
        cls.p = uniq("pf")
        cls.plain = cls.p + "-a-plain"
        cls.tagged = cls.p + "-b-tagged"
        cls.prompt = cls.p + "-c-prompt"
        cls.falsy = cls.p + "-d-false"
        # MlflowClient().create_registered_model(name)
        mtapi._ok(mtapi.post("registered-models/create", {"name": cls.plain}), "create")
        # create_registered_model(name, tags={"team": <unique>})
        mtapi._ok(mtapi.post("registered-models/create",
                             {"name": cls.tagged,
                              "tags": [{"key": "team", "value": cls.p}]}), "create")
        # A model someone tagged is_prompt=false: not a prompt.
        mtapi._ok(mtapi.post("registered-models/create",
                             {"name": cls.falsy,
                              "tags": [{"key": IS_PROMPT, "value": "false"}]}), "create")
        for name in (cls.plain, cls.tagged, cls.falsy):
            mtapi._ok(mtapi.post("model-versions/create",
                                 {"name": name, "source": "mlflow-artifacts:/0/r/artifacts/m"}),
                      "model-versions/create")

    def test_a_register_prompt(self):
        """MlflowClient.register_prompt (2.21): get (404), create the model
        with the prompt tag, create a version with source "dummy-source"
        and the template as a version tag, get the model again."""
        r = mtapi.get("registered-models/get", name=self.prompt)
        self.assertNotFound(r)
        self.assertOk(mtapi.post("registered-models/create", {
            "name": self.prompt, "description": "first",
            "tags": [{"key": IS_PROMPT, "value": "true"}]}))
        r = mtapi.post("model-versions/create", {
            "name": self.prompt, "source": "dummy-source", "description": "first",
            "tags": [{"key": IS_PROMPT, "value": "true"},
                     {"key": "mlflow.prompt.text", "value": "Hello {{name}}"}]})
        mv = self.assertOk(r)["model_version"]
        self.assertEqual(mv["version"], "1")
        self.assertEqual(mv["source"], "dummy-source")
        self.assertOk(mtapi.get("registered-models/get", name=self.prompt))

    def ensure_prompt(self):
        if mtapi.get("registered-models/get", name=self.prompt).status == 404:
            self.test_a_register_prompt()

    def test_search_without_filter(self):
        """search_registered_models(): the client's term alone matches every
        model without the tag (and the is_prompt=false one), not the prompt."""
        self.ensure_prompt()
        found = names(self.assertOk(client_search()))
        for n in (self.plain, self.tagged, self.falsy):
            self.assertIn(n, found)
        self.assertNotIn(self.prompt, found)

    def test_search_with_user_filter(self):
        self.ensure_prompt()
        b = self.assertOk(client_search("name LIKE '%s%%'" % self.p))
        self.assertEqual(names(b), [self.plain, self.tagged, self.falsy])
        b = self.assertOk(client_search("tags.team = '%s'" % self.p))
        self.assertEqual(names(b), [self.tagged])
        b = self.assertOk(client_search("name = '%s'" % self.prompt))
        self.assertEqual(names(b), [])

    def test_paging(self):
        """mlflow.search_registered_models pages with page_token; every page
        carries the term."""
        self.ensure_prompt()
        seen, token = [], None
        for _ in range(10):
            b = self.assertOk(client_search("name LIKE '%s%%'" % self.p, max_results=1,
                                            order_by=["name ASC"], page_token=token))
            seen += names(b)
            token = b.get("next_page_token")
            if not token:
                break
        self.assertEqual(seen, [self.plain, self.tagged, self.falsy])

    def test_search_prompts(self):
        """search_prompts (2.21 AbstractStore): tags.`...` = 'true', as is."""
        self.ensure_prompt()
        f = "tags.`%s` = 'true' AND name LIKE '%s%%'" % (IS_PROMPT, self.p)
        b = self.assertOk(call("GET", API + "registered-models/search",
                               query=[("filter", f), ("max_results", 100)]))
        self.assertEqual(names(b), [self.prompt])
        # != 'false' also asks for prompts: a plain tag clause then.
        f = "tag.`%s` != 'false' AND name LIKE '%s%%'" % (IS_PROMPT, self.p)
        b = self.assertOk(call("GET", API + "registered-models/search", query={"filter": f}))
        self.assertEqual(names(b), [self.prompt])

    def test_other_prompt_clauses_are_dropped(self):
        """Not asking for prompts: every clause on the key goes, so
        = 'false' and LIKE still match models without the tag."""
        self.ensure_prompt()
        for term in ("= 'false'", "LIKE 'x%'", "!= 'TRUE'", "ILIKE '%'"):
            f = "tags.`%s` %s AND name LIKE '%s%%'" % (IS_PROMPT, term, self.p)
            b = self.assertOk(call("GET", API + "registered-models/search", query={"filter": f}))
            self.assertEqual(names(b), [self.plain, self.tagged, self.falsy], term)
        # The value is compared without case to decide; the tag itself with
        # case: 'TRUE' asks for prompts and finds none tagged 'TRUE'.
        f = "tags.%s = 'TRUE' AND name LIKE '%s%%'" % (IS_PROMPT, self.p)
        b = self.assertOk(call("GET", API + "registered-models/search", query={"filter": f}))
        self.assertEqual(names(b), [])

    def test_versions_exclude_prompts_by_default(self):
        """model-versions/search leaves out prompt versions unless asked."""
        self.ensure_prompt()
        f = "name LIKE '%s%%'" % self.p
        b = self.assertOk(mtapi.get("model-versions/search", filter=f))
        self.assertEqual(sorted(names(b, "model_versions")),
                         [self.plain, self.tagged, self.falsy])
        f = "name = '%s' AND tag.`%s` = 'true'" % (self.prompt, IS_PROMPT)
        b = self.assertOk(mtapi.get("model-versions/search", filter=f))
        self.assertEqual(names(b, "model_versions"), [self.prompt])

    def test_get_latest_versions_post_then_get(self):
        """The 2.x/3.x client's get_latest_versions: POST first, GET only
        after ENDPOINT_NOT_FOUND; both answer the same."""
        self.ensure_prompt()
        body = {"name": self.plain, "stages": ["None"]}
        a = self.assertOk(mtapi.post("registered-models/get-latest-versions", body))
        b = self.assertOk(call("GET", API + "registered-models/get-latest-versions",
                               query=[("name", self.plain), ("stages", "None")]))
        self.assertEqual(a, b)
        self.assertEqual([v["version"] for v in a["model_versions"]], ["1"])


if __name__ == "__main__":
    unittest.main()
