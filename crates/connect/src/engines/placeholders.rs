//! `{placeholder}` substitution in engine arguments.
//!
//! `{node_ip}`, `{node_name}`, `{node_index}`, `{cluster_id}`, `{cluster_name}`,
//! `{data_dir}`, `{config}`, `{cert}`, `{key}`, `{ca}`, `{port:NAME}`, and `{peers}`
//! (the peers' `ip:port` of the engine's peer port, comma-separated).

use std::path::Path;

use anyhow::Context;

use super::context::LaunchContext;

pub fn render(
    template: &str,
    ctx: &LaunchContext,
    config_path: Option<&Path>,
    peer_port: Option<&str>,
) -> anyhow::Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map(|e| start + e)
            .with_context(|| format!("unclosed placeholder in {template:?}"))?;
        let key = &rest[start + 1..end];
        out.push_str(
            &value(key, ctx, config_path, peer_port)
                .with_context(|| format!("render {template:?} for node {}", ctx.node_name))?,
        );
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn value(
    key: &str,
    ctx: &LaunchContext,
    config_path: Option<&Path>,
    peer_port: Option<&str>,
) -> anyhow::Result<String> {
    let path = |p: &Path| p.display().to_string();
    Ok(match key {
        "node_ip" => ctx.node_ip.to_string(),
        "node_name" => ctx.node_name.clone(),
        "node_index" => ctx.node_index.to_string(),
        "cluster_id" => ctx.cluster_id.clone(),
        "cluster_name" => ctx.cluster_name.clone(),
        "data_dir" => path(&ctx.data_dir),
        "cert" => path(&ctx.cert),
        "key" => path(&ctx.key),
        "ca" => path(&ctx.ca),
        "config" => path(config_path.context("{config} used but the engine has no config file")?),
        "peers" => {
            let port = peer_port.context("{peers} used but the engine has no peer port")?;
            let addrs = ctx
                .peers
                .iter()
                .map(|p| p.addr(port).map(|a| a.to_string()))
                .collect::<anyhow::Result<Vec<_>>>()?;
            addrs.join(",")
        }
        other => match other.strip_prefix("port:") {
            Some(name) => ctx.port(name)?.to_string(),
            None => anyhow::bail!("unknown placeholder {{{other}}}"),
        },
    })
}
