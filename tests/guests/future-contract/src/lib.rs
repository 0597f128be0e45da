//! A component built against `prism:plugin@0.2.0`: the host speaks 0.1.0
//! and must say so, not just "wrong imports".

#[allow(missing_docs, unreachable_pub, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        inline: r"
            package prism:plugin@0.2.0;

            interface host {
                log: func(message: string);
            }

            world plugin {
                import host;
                export init: func(config: string) -> result<string, string>;
            }
        ",
        world: "plugin",
    });
}

struct Future;

impl bindings::Guest for Future {
    fn init(config: String) -> Result<String, String> {
        bindings::prism::plugin::host::log(&config);
        Ok("future".into())
    }
}

bindings::export!(Future with_types_in bindings);
