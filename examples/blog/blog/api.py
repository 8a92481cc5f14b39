"""The JSON API: list, read, delete posts (/api/posts...)."""

from __future__ import annotations

from flask import abort

from batteries import Blueprint, current_user, db, login_required

from .models import Post

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/posts")
def list_posts():
    page = db.paginate(db.select(Post).order_by(Post.created.desc(), Post.id.desc()))
    return {
        "items": [post.to_json() for post in page.items],
        "page": page.page,
        "pages": page.pages,
        "total": page.total,
    }


@bp.get("/posts/<int:post_id>")
def get_post(post_id: int):
    return db.get_or_404(Post, post_id).to_json()


@bp.delete("/posts/<int:post_id>")
@login_required
def delete_post(post_id: int):
    post = db.get_or_404(Post, post_id)
    if post.author_id != current_user.id:
        abort(403, description="Only the author can delete a post.")
    db.session.delete(post)
    db.session.commit()
    return "", 204
