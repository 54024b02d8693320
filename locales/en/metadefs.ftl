# Error messages of the metadata definitions catalog (/image/v2/metadefs), English.
# Every message id here must exist in zh-CN/ and el/ too (a unit test checks it).


md-namespace-not-found = there is no metadata definitions namespace named { $namespace }
md-namespace-exists = a metadata definitions namespace named { $namespace } already exists
md-namespace-protected = namespace { $namespace } is protected: update it with "protected": false before deleting it
md-namespace-protected-content = namespace { $namespace } is protected: its { $kind ->
        [property] property definitions
        [object] objects
        [tag] tags
       *[association] resource type associations
    } cannot be deleted until it is unprotected
md-not-owner = only the owner of namespace { $namespace } (or an admin) may change it
md-public-needs-admin = only an admin may make a namespace public
md-owner-needs-admin = only an admin may give a namespace to another project ({ $owner })
md-property-not-found = namespace { $namespace } has no property definition named { $name }
md-object-not-found = namespace { $namespace } has no object named { $name }
md-tag-not-found = namespace { $namespace } has no tag named { $name }
md-property-exists = namespace { $namespace } already has a property definition named { $name }
md-object-exists = namespace { $namespace } already has an object named { $name }
md-tag-exists = namespace { $namespace } already has a tag named { $name }
md-association-not-found = namespace { $namespace } is not associated with resource type { $resource_type }
md-association-exists = namespace { $namespace } is already associated with resource type { $resource_type }
md-invalid-namespace = invalid namespace: { $detail }
md-invalid-property = invalid property definition: { $detail }
md-invalid-object = invalid object: { $detail }
md-invalid-tag = invalid tag: { $detail }
md-invalid-association = invalid resource type association: { $detail }
md-invalid-definition = invalid definition of property { $property }: keyword '{ $keyword }': { $detail }
md-required-undefined = object { $object } requires property { $property }, which it does not define
md-duplicate-in-request = { $name } appears more than once in the request
md-tags-missing = the request body needs "tags": a list of {"{"}"name": …{"}"} objects
md-body-not-object = the request body must be a JSON object
md-empty-body = the request body is empty: expected a JSON object
md-bad-json = the request body is not valid JSON: { $detail }
md-bad-media-type = Content-Type '{ $type }' is not supported here: send the body as application/json
md-bad-limit = limit '{ $value }' must be a non-negative integer
md-bad-sort-key = sort_key '{ $value }' must be namespace, created_at or updated_at
md-bad-sort-dir = sort_dir '{ $value }' must be asc or desc
md-bad-visibility = visibility '{ $value }' must be public or private
md-bad-marker = marker { $marker } is not a namespace you can see
