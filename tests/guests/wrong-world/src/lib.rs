//! A perfectly good component of another world: not rules at all.
wit_bindgen::generate!({ path: "wit", world: "greeter" });

struct G;

impl Guest for G {
    fn greet(name: String) -> String {
        format!("hello {name}")
    }
}

export!(G);
