//! `/api/automations`: the rules with their last run, each rule's runs
//! (traces), enable/disable/trigger, and `POST /api/reload`.

use serde::Deserialize;
use warp::{Filter, Rejection, Reply};

use super::Api;
use super::errors::ApiError;
use super::filters::{BodyLimits, get_or_head, json_body, not_allowed};
use crate::automation::AutomationError;

/// Query of `GET /api/automations/<id>/runs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// At most this many (default 20, at most 500).
    pub limit: Option<u32>,
    /// Runs older than this run id (paging).
    pub before: Option<i64>,
}

/// Body of `POST /api/automations/<id>/trigger` (and of enable/disable: `{}`).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    /// Skip the rule's conditions (default true, as Home Assistant's `automation.trigger`).
    pub skip_condition: Option<bool>,
}

fn reject(e: AutomationError) -> Rejection {
    match e {
        e @ AutomationError::UnknownRule(_) => ApiError::NotFound(e.to_string()).rejection(),
        AutomationError::Rejected(m) => ApiError::BadRequest(m).rejection(),
        AutomationError::Stopped => ApiError::Unavailable("the automation task has stopped".into()).rejection(),
        AutomationError::Store(e) => ApiError::Internal(e.to_string()).rejection(),
    }
}

#[utoipa::path(get, path = "/api/automations", tag = "automations",
    responses((status = 200, description = "Every rule (id, alias, mode, enabled, triggers) with its last run", body = [Object])))]
pub(super) async fn list(api: Api) -> Result<warp::reply::Response, Rejection> {
    let rules = api.automations.list().await.map_err(reject)?;
    Ok(warp::reply::json(&rules).into_response())
}

#[utoipa::path(get, path = "/api/automations/{id}/runs", tag = "automations",
    params(("id" = String, Path, description = "Rule id"), RunsQuery),
    responses((status = 200, description = "The rule's runs, newest first, each with its trigger, conditions and steps", body = [Object]),
        (status = 404, description = "No such rule")))]
pub(super) async fn runs(id: String, q: RunsQuery, api: Api) -> Result<warp::reply::Response, Rejection> {
    let known = api.automations.rules().await.map_err(reject)?.iter().any(|r| r.id == id);
    if !known {
        return Err(ApiError::NotFound(format!("no automation `{id}`")).rejection());
    }
    let limit = q.limit.unwrap_or(20).clamp(1, 500);
    let runs = api
        .store
        .automation_runs(Some(&id), q.before, limit)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()).rejection())?;
    Ok(warp::reply::json(&runs).into_response())
}

#[utoipa::path(post, path = "/api/automations/{id}/{verb}", tag = "automations", request_body = TriggerRequest,
    params(("id" = String, Path, description = "Rule id"), ("verb" = String, Path, description = "enable, disable or trigger")),
    responses((status = 200, description = "`{id, done}`", body = Object), (status = 404, description = "No such rule or verb")))]
pub(super) async fn act(
    id: String,
    verb: String,
    body: TriggerRequest,
    api: Api,
) -> Result<warp::reply::Response, Rejection> {
    match verb.as_str() {
        "enable" | "disable" => api.automations.set_enabled(&id, verb == "enable").await.map_err(reject)?,
        "trigger" => api.automations.trigger(&id, body.skip_condition.unwrap_or(true)).await.map_err(reject)?,
        other => {
            return Err(ApiError::NotFound(format!("no action `{other}` (enable, disable, trigger)")).rejection());
        }
    }
    Ok(warp::reply::json(&serde_json::json!({"id": id, "done": verb})).into_response())
}

#[utoipa::path(post, path = "/api/reload", tag = "automations", request_body = Object,
    responses((status = 200, description = "What the reload changed (rules, devices, areas, floors) and what waits for a restart", body = Object),
        (status = 400, description = "The config file has errors; nothing changed")))]
pub(super) async fn reload(_: serde_json::Value, api: Api) -> Result<warp::reply::Response, Rejection> {
    let report = api.reloader.reload().await.map_err(reject)?;
    Ok(warp::reply::json(&report).into_response())
}

/// The routes; `with_api` and `authorized` come from `filters::routes`.
pub(super) fn routes<A, Z>(
    with_api: impl Fn() -> A,
    authorized: impl Fn() -> Z,
    body: BodyLimits,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone
where
    A: Filter<Extract = (Api,), Error = std::convert::Infallible> + Clone + Send + Sync + 'static,
    Z: Filter<Extract = (), Error = Rejection> + Clone + Send + Sync + 'static,
{
    let list = warp::path!("api" / "automations")
        .and(authorized())
        .and(get_or_head().and(with_api()).and_then(list).or(not_allowed("GET, HEAD")).unify());
    let runs = warp::path!("api" / "automations" / String / "runs")
        .and(authorized())
        .and(get_or_head())
        .and(warp::query::<RunsQuery>())
        .and(with_api())
        .and_then(runs);
    let act = warp::path!("api" / "automations" / String / String)
        .and(authorized())
        .and(warp::post())
        .and(json_body::<TriggerRequest>(body))
        .and(with_api())
        .and_then(act);
    let reload = warp::path!("api" / "reload").and(authorized()).and(
        warp::post()
            .and(json_body::<serde_json::Value>(body))
            .and(with_api())
            .and_then(reload)
            .or(not_allowed("POST"))
            .unify(),
    );
    list.or(runs).unify().or(act).unify().or(reload).unify()
}
