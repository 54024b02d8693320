# 元数据定义目录（/image/v2/metadefs）的错误消息，简体中文。


md-namespace-not-found = 找不到名为 { $namespace } 的元数据定义命名空间
md-namespace-exists = 名为 { $namespace } 的元数据定义命名空间已存在
md-namespace-protected = 命名空间 { $namespace } 受保护：请先将其更新为 "protected": false 再删除
md-namespace-protected-content = 命名空间 { $namespace } 受保护：在取消保护之前不能删除其{ $kind ->
        [property] 属性定义
        [object] 对象
        [tag] 标签
       *[association] 资源类型关联
    }
md-not-owner = 只有命名空间 { $namespace } 的所有者（或管理员）可以更改它
md-public-needs-admin = 只有管理员可以将命名空间设为公开
md-owner-needs-admin = 只有管理员可以将命名空间交给另一个项目（{ $owner }）
md-property-not-found = 命名空间 { $namespace } 中没有名为 { $name } 的属性定义
md-object-not-found = 命名空间 { $namespace } 中没有名为 { $name } 的对象
md-tag-not-found = 命名空间 { $namespace } 中没有名为 { $name } 的标签
md-property-exists = 命名空间 { $namespace } 中已有名为 { $name } 的属性定义
md-object-exists = 命名空间 { $namespace } 中已有名为 { $name } 的对象
md-tag-exists = 命名空间 { $namespace } 中已有名为 { $name } 的标签
md-association-not-found = 命名空间 { $namespace } 未与资源类型 { $resource_type } 关联
md-association-exists = 命名空间 { $namespace } 已与资源类型 { $resource_type } 关联
md-invalid-namespace = 无效的命名空间：{ $detail }
md-invalid-property = 无效的属性定义：{ $detail }
md-invalid-object = 无效的对象：{ $detail }
md-invalid-tag = 无效的标签：{ $detail }
md-invalid-association = 无效的资源类型关联：{ $detail }
md-invalid-definition = 属性 { $property } 的定义无效：关键字 '{ $keyword }'：{ $detail }
md-required-undefined = 对象 { $object } 要求属性 { $property }，但并未定义该属性
md-duplicate-in-request = { $name } 在请求中出现了不止一次
md-tags-missing = 请求体需要 "tags"：一个由 {"{"}"name": …{"}"} 对象组成的列表
md-body-not-object = 请求体必须是一个 JSON 对象
md-empty-body = 请求体为空：需要一个 JSON 对象
md-bad-json = 请求体不是有效的 JSON：{ $detail }
md-bad-media-type = 此处不支持 Content-Type '{ $type }'：请以 application/json 发送请求体
md-bad-limit = limit '{ $value }' 必须是非负整数
md-bad-sort-key = sort_key '{ $value }' 必须是 namespace、created_at 或 updated_at
md-bad-sort-dir = sort_dir '{ $value }' 必须是 asc 或 desc
md-bad-visibility = visibility '{ $value }' 必须是 public 或 private
md-bad-marker = 标记 { $marker } 不是您可以看到的命名空间
