"""The order mirror: a local copy of the shop's postings kept fresh by sync, push and targeted reads
(`mirror.Mirror`), its storage protocol (`store.MirrorStore`), its sources (`source.OzonSource`,
`demo_source.DemoSource`) and Ozon's push notifications as changes (`push`)."""
