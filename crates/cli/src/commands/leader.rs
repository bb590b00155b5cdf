//! `isthmus leader`: which replica runs the controller, under which lease epoch, since
//! when (on SQLite the one server, epoch 0), which replica reconciles each provider's
//! resources, and which replica answered.

use serde_json::Value;

use super::Ctx;
use crate::args::OutputFormat;

pub async fn run(ctx: &Ctx) -> anyhow::Result<String> {
    let status: Value = ctx.client.get("/v1/leader").await?;
    let text = |key: &str| match &status[key] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    Ok(match ctx.format {
        OutputFormat::Json => crate::output::json(&status)?,
        OutputFormat::Yaml => serde_yaml::to_string(&status)?,
        OutputFormat::Table => {
            format!(
                "leader:   {}\nepoch:    {}\nsince:    {}\nstore:    {}\nanswered: {} ({})\n",
                text("holder"),
                text("epoch"),
                text("since"),
                text("store"),
                text("replica"),
                if status["leader"] == Value::Bool(true) {
                    "leads"
                } else {
                    "follows"
                },
            ) + providers_table(&status["providers"]).as_str()
        }
    })
}

/// One line per provider: who reconciles its resources, under which epoch; `-` when no
/// replica with its driver holds it (its resources wait).
fn providers_table(providers: &Value) -> String {
    let Some(providers) = providers.as_array().filter(|p| !p.is_empty()) else {
        return String::new();
    };
    let mut text = String::from("\nPROVIDER  LEADER  EPOCH  HERE\n");
    for p in providers {
        let holder = p["holder"].as_str().unwrap_or("-");
        let here = match (p["leader"].as_bool(), p["driver"].as_bool()) {
            (Some(true), _) => "leads",
            (_, Some(true)) => "standby",
            _ => "no driver",
        };
        text += &format!(
            "{:<9} {}  {}  {here}\n",
            p["provider"].as_str().unwrap_or("?"),
            holder,
            p["epoch"]
        );
    }
    text
}
