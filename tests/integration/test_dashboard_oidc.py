"""The dashboard's "Inloggen met clubaccount" in real Chromium against a real OpenID provider
on loopback (tests/oidc, npm oidc-provider): the sign-in view, the provider's login and consent
pages, back on the page the user asked for with the bearer token in sessionStorage only, the
user's name from /api/me, and the page's Content-Security-Policy admitting the provider."""
import pytest

from dashboard_support import Dashboard, browser, free_port, wait_view  # noqa: F401
from test_oidc import CLIENT_ID, Provider, user


@pytest.fixture(scope="module")
def oidc_dashboard(tmp_path_factory, bin_path):
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    provider = Provider(free_port(), origin + "/", origin)
    try:
        dash = Dashboard(tmp_path_factory.mktemp("dashboard-oidc"), members=300, port=port, auth=f"""
issuer = "{provider.issuer}"
oidc_client_id = "{CLIENT_ID}"
oidc_redirect_uri = "{origin}/"
oidc_scopes = "openid email"
""")
    except BaseException:
        provider.stop()
        raise
    yield dash, provider
    dash.stop()
    provider.stop()


def test_sign_in_with_the_club_account(browser, oidc_dashboard):
    dash, provider = oidc_dashboard
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    visited, refused = [], []
    page.on("request", lambda r: visited.append(r.url))
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(dash.url + "/#/verjaardagen?maand=3")
    page.get_by_role("button", name="Inloggen met clubaccount").click()
    page.wait_for_url(provider.issuer + "/interaction/**")
    anna = user("anna")
    page.get_by_label("Gebruikersnaam").fill("anna")
    page.get_by_label("Wachtwoord").fill(anna["password"])
    page.get_by_role("button", name="Inloggen").click()
    page.get_by_role("button", name="Toestaan").click()
    page.get_by_test_id("whoami").wait_for(timeout=20000)
    wait_view(page)
    assert page.get_by_test_id("whoami").inner_text() == "anna"
    assert page.url.endswith("#/verjaardagen?maand=3")  # back where the user was
    assert "code=" not in page.url
    credential = page.evaluate("sessionStorage.getItem('memberlake.credential')")
    assert '"kind":"bearer"' in credential
    token = credential.split('"value":"')[1].split('"')[0]
    assert all(token not in url for url in visited)
    assert page.evaluate("localStorage.length") == 0
    assert not refused, refused
    page.get_by_role("button", name="Uitloggen").click()
    page.wait_for_url(provider.issuer + "/session/end**")  # the provider's session ends too
    assert token not in page.url
    page.goto(dash.url + "/")
    page.get_by_role("button", name="Inloggen met clubaccount").wait_for()
    assert page.evaluate("sessionStorage.getItem('memberlake.credential')") is None
    context.close()
